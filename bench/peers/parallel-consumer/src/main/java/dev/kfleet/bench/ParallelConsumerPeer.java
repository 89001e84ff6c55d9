package dev.kfleet.bench;

import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

import io.confluent.parallelconsumer.ParallelConsumerOptions;
import io.confluent.parallelconsumer.ParallelConsumerOptions.CommitMode;
import io.confluent.parallelconsumer.ParallelConsumerOptions.ProcessingOrder;
import io.confluent.parallelconsumer.ParallelStreamProcessor;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * The Confluent Parallel Consumer contender of kfleet's benchmark
 * (bench/run.sh: pc_slow_key and parallel_consumer): one KafkaConsumer in
 * group --group reading --topic from the beginning, every record handed to
 * PC's worker pool (--concurrency threads, --ordering KEY, PARTITION or
 * UNORDERED), at-least-once: PC commits the offsets with the consumer
 * (PERIODIC_CONSUMER_ASYNCHRONOUS, its default).
 *
 * <pre>
 * java -cp 'target/classes:target/lib/*' dev.kfleet.bench.ParallelConsumerPeer \
 *     --brokers HOST:PORT --topic T --group G --records N \
 *     [--ordering KEY] [--concurrency 8] [--sleep-ms 0]
 * </pre>
 *
 * The handler reads the record's key and value (sums their lengths, so the
 * JIT cannot drop the work) and, with --sleep-ms, sleeps that long first,
 * like kfleet's flaky.so with sleep_ms. Output on stdout, one line each:
 * "pc: assigned P partition(s)" when the group gave it its partitions,
 * "pc: done records=N" the moment the handler has returned for the N-th
 * record (what the harness times), then, after PC drained and closed (which
 * commits the offsets), "pc: closed handled=H bytes=B" and exit 0. On a
 * failure of PC: "pc: error ..." and exit 1. SIGTERM closes it too.
 */
public final class ParallelConsumerPeer {
    private ParallelConsumerPeer() {
    }

    private static void usage() {
        System.err.println("usage: ParallelConsumerPeer --brokers B --topic T --group G --records N"
                + " [--ordering KEY|PARTITION|UNORDERED] [--concurrency C] [--sleep-ms MS]");
        System.exit(2);
    }

    private static void say(String line) {
        System.out.println("pc: " + line);
        System.out.flush();
    }

    public static void main(String[] args) throws InterruptedException {
        String brokers = null, topic = null, group = null;
        long records = -1;
        ProcessingOrder ordering = ProcessingOrder.KEY;
        int concurrency = 8;
        long sleepMs = 0;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--brokers": brokers = args[i + 1]; break;
                case "--topic": topic = args[i + 1]; break;
                case "--group": group = args[i + 1]; break;
                case "--records": records = Long.parseLong(args[i + 1]); break;
                case "--ordering": ordering = ProcessingOrder.valueOf(args[i + 1].toUpperCase()); break;
                case "--concurrency": concurrency = Integer.parseInt(args[i + 1]); break;
                case "--sleep-ms": sleepMs = Long.parseLong(args[i + 1]); break;
                default: usage();
            }
        }
        if (args.length % 2 != 0 || brokers == null || topic == null || group == null || records < 1) {
            usage();
        }

        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        // PC commits; it refuses a consumer that auto-commits.
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
        // Everything else at the Kafka client's and PC's defaults, as a user
        // would run it.
        KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p);

        ParallelConsumerOptions<byte[], byte[]> options = ParallelConsumerOptions.<byte[], byte[]>builder()
                .consumer(consumer)
                .ordering(ordering)
                .maxConcurrency(concurrency)
                .commitMode(CommitMode.PERIODIC_CONSUMER_ASYNCHRONOUS)
                .build();
        ParallelStreamProcessor<byte[], byte[]> pc = ParallelStreamProcessor.createEosStreamProcessor(options);

        final long want = records;
        final long sleep = sleepMs;
        AtomicLong handled = new AtomicLong();
        LongAdder bytes = new LongAdder();
        CountDownLatch finished = new CountDownLatch(1);
        AtomicBoolean closed = new AtomicBoolean(false);

        pc.subscribe(List.of(topic), new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> parts) {
            }

            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> parts) {
                say("assigned " + parts.size() + " partition(s)");
            }
        });
        pc.poll(ctx -> {
            for (ConsumerRecord<byte[], byte[]> r : ctx.getConsumerRecordsFlattened()) {
                if (sleep > 0) {
                    try {
                        Thread.sleep(sleep);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new RuntimeException(e);
                    }
                }
                bytes.add((r.key() == null ? 0 : r.key().length) + (r.value() == null ? 0 : r.value().length));
                if (handled.incrementAndGet() == want) {
                    say("done records=" + want);
                    finished.countDown();
                }
            }
        });

        Runnable close = () -> {
            if (closed.compareAndSet(false, true)) {
                pc.closeDrainFirst(Duration.ofSeconds(30));
                say("closed handled=" + handled.get() + " bytes=" + bytes.sum());
            }
        };
        Runtime.getRuntime().addShutdownHook(new Thread(close));

        while (!finished.await(50, TimeUnit.MILLISECONDS)) {
            if (pc.isClosedOrFailed()) {
                say("error: parallel consumer closed or failed after " + handled.get() + " of " + want
                        + " records");
                System.exit(1);
            }
        }
        close.run();
        System.exit(0);
    }
}
