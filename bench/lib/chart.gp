# bench/lib/chart.gp - the chart of bench/run.sh (gnuplot, called by bench.py).
#
# Variables set with -e: tp (throughput data: "name" krecords_per_s),
# lt (latency data: "name" p50 p99 p99.9, in ms), out (the PNG), subtitle.
set terminal pngcairo size 1200,520 font "sans,10" noenhanced
set output out
set multiplot layout 1,2 title "kfleet benchmark - ".subtitle

set style data histograms
set style fill solid 0.85 border -1
set boxwidth 0.8
set grid ytics
set key top right
set xtics rotate by -25 nomirror
set yrange [0:*]

set title "Throughput (median, thousand records/s)"
set style histogram clustered gap 1
plot tp using 2:xtic(1) title "k records/s" linecolor rgb "#3b75af", \
     '' using 0:2:(sprintf("%.0f", $2)) with labels offset 0,0.7 notitle

set title "Latency, produce to visible in the sink (ms, log scale)"
set logscale y
set yrange [*:*]
set style histogram clustered gap 1
plot lt using 2:xtic(1) title "p50" linecolor rgb "#3b75af", \
     '' using 3 title "p99" linecolor rgb "#ef8636", \
     '' using 4 title "p99.9" linecolor rgb "#c53a32"

unset multiplot
