package dev.kfleet.bench;

import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Produced;

/**
 * The Kafka Streams contender of kfleet's benchmark (bench/run.sh,
 * kstreams_eos): copies every record (key and value, untouched, like kfleet's
 * echo handler) from --in to --out with processing.guarantee=exactly_once_v2.
 *
 * <pre>
 * java -cp 'target/classes:target/lib/*' dev.kfleet.bench.KStreamsPeer \
 *     --brokers HOST:PORT --in TOPIC --out TOPIC --app-id ID \
 *     [--threads 2] [--state-dir DIR] [--guarantee exactly_once_v2]
 * </pre>
 *
 * It runs until SIGTERM (then closes cleanly and exits 0). The harness never
 * asks it how far it got: it watches the application's committed offsets
 * (committed in the same transaction as the outputs) from outside, exactly as
 * it does for kfleet's transactional Kafka sink. On stdout it prints one line
 * per state change ("kstreams: state RUNNING"), which the harness uses to know
 * when the group is formed; on a fatal error it prints "kstreams: error ..."
 * and exits 1.
 */
public final class KStreamsPeer {
    private KStreamsPeer() {
    }

    private static void usage() {
        System.err.println("usage: KStreamsPeer --brokers B --in T --out T --app-id ID"
                + " [--threads N] [--state-dir DIR] [--guarantee G]");
        System.exit(2);
    }

    public static void main(String[] args) throws InterruptedException {
        String brokers = null, in = null, out = null, appId = null;
        String stateDir = System.getProperty("java.io.tmpdir") + "/kfleet-bench-kstreams";
        String guarantee = StreamsConfig.EXACTLY_ONCE_V2;
        int threads = 2;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--brokers": brokers = args[i + 1]; break;
                case "--in": in = args[i + 1]; break;
                case "--out": out = args[i + 1]; break;
                case "--app-id": appId = args[i + 1]; break;
                case "--threads": threads = Integer.parseInt(args[i + 1]); break;
                case "--state-dir": stateDir = args[i + 1]; break;
                case "--guarantee": guarantee = args[i + 1]; break;
                default: usage();
            }
        }
        if (args.length % 2 != 0 || brokers == null || in == null || out == null || appId == null) {
            usage();
        }

        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, threads);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
        // Everything else stays at Kafka Streams' defaults (commit.interval.ms
        // is 100 with exactly-once, like kfleet's), as a user would run it.
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");

        StreamsBuilder b = new StreamsBuilder();
        b.stream(in, Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()))
                .to(out, Produced.with(Serdes.ByteArray(), Serdes.ByteArray()));

        KafkaStreams streams = new KafkaStreams(b.build(), p);
        CountDownLatch finished = new CountDownLatch(1);
        AtomicInteger status = new AtomicInteger(0);
        streams.setStateListener((now, before) -> {
            System.out.println("kstreams: state " + now);
            System.out.flush();
            if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING) {
                finished.countDown();
            }
        });
        streams.setUncaughtExceptionHandler(e -> {
            System.out.println("kstreams: error " + e);
            System.out.flush();
            status.set(1);
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            streams.close(Duration.ofSeconds(30));
            System.out.println("kstreams: closed");
            System.out.flush();
            finished.countDown();
        }));
        streams.start();
        finished.await();
        if (status.get() != 0) {
            streams.close(Duration.ofSeconds(10));
            System.exit(status.get());
        }
    }
}
