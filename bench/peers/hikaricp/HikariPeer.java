// The HikariCP peer driver for the side-by-side harness (issue 9): the same workload as the C++ peer drivers,
// run on HikariCP over a stub DataSource, printing one JSON line on stdout.
//
// Usage (through run-hikaricp, which compiles this file and picks the JVM flags):
//   HikariPeer --threads T --connections C --hold-ns H --seconds S [--warmup-seconds W]
//
// Workload, identical to the C++ drivers':
//   - a pool of C stub connections, filled before anything is timed (we wait until HikariCP reports C idle);
//   - T threads released together (see Phase for why not a CountDownLatch); each loops: getConnection() (every 64th call timed with
//     System.nanoTime() around that call alone), when H > 0 spin reading System.nanoTime() until H ns have
//     passed while holding, close() (which returns the connection to the pool);
//   - after S seconds the main thread raises a volatile stop flag and joins every thread.
// Before the measured phase a warm-up phase runs the same workload for W seconds (default 5) on its own
// threads, so the JIT has compiled HikariCP's borrow and return paths; its counts are discarded (they go to
// stderr). The measured phase then starts fresh threads, as a C++ driver's process starts fresh threads.
//
// Output: {"pool":"hikaricp","variant":"2.7.9",...} as described in README.md; percentiles are nearest-rank
// over all threads' samples together, max is the largest sample. Logs and diagnostics go to stderr only.
//
// Exit status: 0 after a run (failed getConnection() calls are counted in "errors", not fatal); 2 for a bad
// argument (the message names it); 1 when the pool cannot be set up or filled.
package berth.peers.hikaricp;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import com.zaxxer.hikari.HikariPoolMXBean;
import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.concurrent.locks.LockSupport;

public final class HikariPeer {
    /** Every SAMPLE_EVERY-th getConnection() call of a thread is timed; a power of two. */
    static final int SAMPLE_EVERY = 64;

    /** How long to wait for HikariCP to open the C connections before giving up. */
    static final long FILL_TIMEOUT_NS = TimeUnit.SECONDS.toNanos(60);

    // ---- options: parsed once, validated, never re-read ----

    static final class Options {
        int threads = -1;
        int connections = -1;
        long holdNs = -1;
        double seconds = -1;
        double warmupSeconds = 5.0;
    }

    static final class UsageError extends Exception {
        private static final long serialVersionUID = 1L;

        UsageError(String message) { super(message); }
    }

    static final String USAGE =
        "usage: run-hikaricp --threads T --connections C --hold-ns H --seconds S [--warmup-seconds W]\n"
        + "                    [--cache-dir DIR]\n"
        + "  T >= 1 worker threads, C >= 1 pooled connections, H >= 0 ns held per cycle,\n"
        + "  S > 0 measured seconds, W >= 0 warm-up seconds (default 5, not in the results),\n"
        + "  DIR: where run-hikaricp caches the compiled driver";

    static Options parse(String[] args) throws UsageError {
        Options o = new Options();
        for (int i = 0; i < args.length; ++i) {
            String name = args[i];
            if (name.equals("--help") || name.equals("-h")) throw new UsageError(null);
            String value;
            int eq = name.indexOf('=');
            if (name.startsWith("--") && eq > 0) {
                value = name.substring(eq + 1);
                name = name.substring(0, eq);
            } else {
                if (i + 1 >= args.length) throw new UsageError(name + ": missing value");
                value = args[++i];
            }
            switch (name) {
                case "--threads": o.threads = parseInt(name, value, 1); break;
                case "--connections": o.connections = parseInt(name, value, 1); break;
                case "--hold-ns": o.holdNs = parseLong(name, value, 0); break;
                case "--seconds": o.seconds = parseSeconds(name, value, false); break;
                case "--warmup-seconds": o.warmupSeconds = parseSeconds(name, value, true); break;
                default: throw new UsageError("unknown option " + name);
            }
        }
        if (o.threads < 0) throw new UsageError("--threads is required");
        if (o.connections < 0) throw new UsageError("--connections is required");
        if (o.holdNs < 0) throw new UsageError("--hold-ns is required");
        if (o.seconds < 0) throw new UsageError("--seconds is required");
        return o;
    }

    static int parseInt(String name, String value, int min) throws UsageError {
        long v = parseLong(name, value, min);
        if (v > Integer.MAX_VALUE) throw new UsageError(name + ": " + value + " is too large");
        return (int) v;
    }

    static long parseLong(String name, String value, long min) throws UsageError {
        long v = parseNumber(name, value, Long::parseLong, "an integer");
        if (v < min) throw new UsageError(name + ": " + value + " is below the minimum " + min);
        return v;
    }

    static double parseSeconds(String name, String value, boolean zeroAllowed) throws UsageError {
        double v = parseNumber(name, value, Double::parseDouble, "a number of seconds");
        if (!Double.isFinite(v) || v < 0 || (!zeroAllowed && v == 0)) {
            throw new UsageError(name + ": " + value + (zeroAllowed ? " must be >= 0" : " must be > 0"));
        }
        return v;
    }

    /** Parses value with parser, turning a NumberFormatException into a UsageError that names the option. */
    static <T> T parseNumber(String name, String value, Function<String, T> parser, String what)
            throws UsageError {
        try {
            return parser.apply(value);
        } catch (NumberFormatException e) {
            throw new UsageError(name + ": '" + value + "' is not " + what);
        }
    }

    // ---- the pool ----

    /**
     * HikariCP configured as its users configure it for speed, doing no per-borrow work a null pool would not:
     * - maximumPoolSize = minimumIdle = C: a fixed-size pool (HikariCP's own recommendation), so idleTimeout
     *   never retires anything and the pool never grows or shrinks during a run;
     * - connectionTimeout 30 s (HikariCP's default): a borrow waits that long before failing as an error;
     * - no connectionTestQuery: validation is JDBC4 isValid(), and HikariCP skips it on a borrow anyway when
     *   the connection was returned less than 500 ms ago (com.zaxxer.hikari.aliveBypassWindowMs, default);
     *   the stub's isValid() returns true at once when it does run;
     * - autoCommit left at its default (true): close() then has no rollback to do;
     * - leakDetectionThreshold 0, no metrics tracker, no MBeans, allowPoolSuspension false (all defaults):
     *   no leak task is scheduled per borrow, no metrics are recorded, and the suspend lock is a no-op;
     * - built with the HikariDataSource(HikariConfig) constructor, so getConnection() takes the fast path
     *   straight to the pool rather than the lazily initialized, volatile-checked one.
     * maxLifetime (30 min) and the housekeeper (every 30 s) are left at their defaults: no run is that long.
     */
    static HikariDataSource openPool(int connections) {
        HikariConfig config = new HikariConfig();
        config.setPoolName("berth-peer-hikaricp");
        config.setDataSource(new StubDataSource());
        config.setMaximumPoolSize(connections);
        config.setMinimumIdle(connections);
        config.setConnectionTimeout(30_000);
        return new HikariDataSource(config);
    }

    /** Waits until HikariCP reports exactly C connections, all idle. */
    static void awaitFilled(HikariDataSource ds, int connections) {
        HikariPoolMXBean pool = ds.getHikariPoolMXBean();
        long deadline = System.nanoTime() + FILL_TIMEOUT_NS;
        while (pool.getTotalConnections() != connections || pool.getIdleConnections() != connections) {
            if (System.nanoTime() - deadline > 0) {
                throw new IllegalStateException("pool not filled after 60 s: total=" + pool.getTotalConnections()
                    + ", idle=" + pool.getIdleConnections() + ", wanted " + connections);
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
        }
    }

    // ---- the workload ----

    /**
     * The start line and the finish line of one phase.
     *
     * Workers check in on `ready`, then yield-spin on `go`: every worker is already runnable when the main
     * thread raises `go`, so each starts at its next time slice, as when a C++ driver's std::latch wakes all
     * its waiters with one futex call. A CountDownLatch wakes its waiters in a chain instead (each woken thread
     * unparks the next): with 128 threads on 2 cores, and the early threads busy in the loop, the tail of that
     * chain started hundreds of milliseconds to seconds late, and half the threads of a 1 s run did no cycle.
     */
    static final class Phase {
        final AtomicInteger ready = new AtomicInteger();
        volatile boolean go;
        /** Raised by the main thread when the phase ends; read by every worker once per cycle. */
        volatile boolean stop;
    }

    /** One thread's loop and its results; the results are read by the main thread after join(). */
    static final class Worker implements Runnable {
        private final HikariDataSource ds;
        private final long holdNs;
        private final Phase phase;

        long cycles;
        long errors;
        long[] samples;
        int sampleCount;

        Worker(HikariDataSource ds, long holdNs, Phase phase, int expectedSamples) {
            this.ds = ds;
            this.holdNs = holdNs;
            this.phase = phase;
            this.samples = new long[Math.max(expectedSamples, 1024)];
        }

        @Override public void run() {
            phase.ready.incrementAndGet();
            while (!phase.go) Thread.yield();
            long calls = 0;
            long done = 0;
            long failed = 0;
            final long hold = holdNs;
            while (!phase.stop) {
                Connection c;
                try {
                    if ((calls++ & (SAMPLE_EVERY - 1)) == 0) {
                        long t0 = System.nanoTime();
                        c = ds.getConnection();
                        long t1 = System.nanoTime();
                        record(t1 - t0);
                    } else {
                        c = ds.getConnection();
                    }
                } catch (SQLException e) {
                    // A timed-out borrow is an error, not a sample: it says the pool failed, not how fast.
                    if (failed++ == 0) System.err.println("hikaricp: getConnection failed: " + e);
                    continue;
                }
                if (hold > 0) {
                    long start = System.nanoTime();
                    while (System.nanoTime() - start < hold) {
                        // spin while holding, as the C++ drivers do
                    }
                }
                try {
                    c.close();
                    ++done;
                } catch (SQLException e) {
                    if (failed++ == 0) System.err.println("hikaricp: close failed: " + e);
                }
            }
            cycles = done;
            errors = failed;
        }

        private void record(long ns) {
            if (sampleCount == samples.length) samples = Arrays.copyOf(samples, samples.length * 2);
            samples[sampleCount++] = ns;
        }
    }

    static final class PhaseResult {
        double seconds;
        long[] perThreadCycles;
        long errors;
        long[] samples; // sorted
    }

    /** Runs T fresh threads for the given time; the wall time runs from `go` to the last join. */
    static PhaseResult runPhase(HikariDataSource ds, Options o, double seconds, String name)
            throws InterruptedException {
        Phase phase = new Phase();
        // Room for what one thread could sample at ~50 M cycles/s alone, capped; record() grows it past that.
        long perThreadGuess = (long) (seconds * 50e6 / SAMPLE_EVERY / o.threads) + 1;
        int expected = (int) Math.min(perThreadGuess, 1 << 20);
        List<Worker> workers = new ArrayList<>(o.threads);
        List<Thread> threads = new ArrayList<>(o.threads);
        for (int i = 0; i < o.threads; ++i) {
            Worker w = new Worker(ds, o.holdNs, phase, expected);
            Thread t = new Thread(w, "hikaricp-" + name + "-" + i);
            t.setDaemon(true);
            workers.add(w);
            threads.add(t);
            t.start();
        }
        while (phase.ready.get() < o.threads) LockSupport.parkNanos(TimeUnit.MICROSECONDS.toNanos(100));
        long start = System.nanoTime();
        phase.go = true;
        long deadline = start + (long) (seconds * 1e9);
        for (long left; (left = deadline - System.nanoTime()) > 0; ) LockSupport.parkNanos(left);
        phase.stop = true;
        for (Thread t : threads) t.join();
        long end = System.nanoTime();

        PhaseResult r = new PhaseResult();
        r.seconds = (end - start) / 1e9;
        r.perThreadCycles = new long[o.threads];
        int total = 0;
        for (int i = 0; i < o.threads; ++i) {
            Worker w = workers.get(i);
            r.perThreadCycles[i] = w.cycles;
            r.errors += w.errors;
            total += w.sampleCount;
        }
        r.samples = new long[total];
        int at = 0;
        for (Worker w : workers) {
            System.arraycopy(w.samples, 0, r.samples, at, w.sampleCount);
            at += w.sampleCount;
        }
        Arrays.sort(r.samples);
        return r;
    }

    // ---- output ----

    /** Nearest-rank percentile of sorted samples: the smallest sample with at least q of them at or below. */
    static long percentile(long[] sorted, double q) {
        int rank = (int) Math.ceil(q * sorted.length);
        return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1];
    }

    static String jsonString(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            if (ch == '"' || ch == '\\') b.append('\\').append(ch);
            else if (ch < 0x20) b.append(String.format(Locale.ROOT, "\\u%04x", (int) ch));
            else b.append(ch);
        }
        return b.append('"').toString();
    }

    /** HikariCP's version from the pom.properties Maven put in its jar (the manifest has no version field). */
    static String hikariVersion() {
        try (InputStream in = HikariDataSource.class.getResourceAsStream(
                 "/META-INF/maven/com.zaxxer/HikariCP/pom.properties")) {
            if (in == null) return "unknown";
            Properties p = new Properties();
            p.load(in);
            return p.getProperty("version", "unknown");
        } catch (IOException e) {
            return "unknown";
        }
    }

    /** The VM and the flags it was started with, as the "jvm" field. */
    static String jvmDescription() {
        String flags = String.join(" ", ManagementFactory.getRuntimeMXBean().getInputArguments());
        return System.getProperty("java.vm.name") + " " + System.getProperty("java.vm.version")
            + (flags.isEmpty() ? "" : "; " + flags);
    }

    static String json(Options o, PhaseResult r, String variant) {
        long cycles = 0;
        for (long c : r.perThreadCycles) cycles += c;
        StringBuilder b = new StringBuilder(256 + 12 * r.perThreadCycles.length);
        b.append("{\"pool\":\"hikaricp\",\"variant\":").append(jsonString(variant));
        b.append(",\"threads\":").append(o.threads);
        b.append(",\"connections\":").append(o.connections);
        b.append(",\"hold_ns\":").append(o.holdNs);
        b.append(",\"seconds\":").append(String.format(Locale.ROOT, "%.6f", r.seconds));
        b.append(",\"cycles\":").append(cycles);
        b.append(",\"cycles_per_s\":").append(String.format(Locale.ROOT, "%.1f", cycles / r.seconds));
        if (r.samples.length == 0) {
            b.append(",\"latency_ns\":{\"p50\":null,\"p99\":null,\"p999\":null,\"max\":null}");
        } else {
            b.append(",\"latency_ns\":{\"p50\":").append(percentile(r.samples, 0.50));
            b.append(",\"p99\":").append(percentile(r.samples, 0.99));
            b.append(",\"p999\":").append(percentile(r.samples, 0.999));
            b.append(",\"max\":").append(r.samples[r.samples.length - 1]).append('}');
        }
        b.append(",\"samples\":").append(r.samples.length);
        b.append(",\"per_thread_cycles\":[");
        for (int i = 0; i < r.perThreadCycles.length; ++i) {
            if (i > 0) b.append(',');
            b.append(r.perThreadCycles[i]);
        }
        b.append("],\"errors\":").append(r.errors);
        b.append(",\"warmup_seconds\":").append(String.format(Locale.ROOT, "%.3f", o.warmupSeconds));
        b.append(",\"jvm\":").append(jsonString(jvmDescription()));
        return b.append('}').toString();
    }

    public static void main(String[] args) throws Exception {
        Options o;
        try {
            o = parse(args);
        } catch (UsageError e) {
            if (e.getMessage() == null) { // --help
                System.err.println(USAGE);
                System.exit(0);
            }
            System.err.println("run-hikaricp: " + e.getMessage());
            System.err.println(USAGE);
            System.exit(2);
            return;
        }
        String variant = hikariVersion();

        PhaseResult r;
        try (HikariDataSource ds = openPool(o.connections)) {
            awaitFilled(ds, o.connections);
            if (o.warmupSeconds > 0) {
                PhaseResult w = runPhase(ds, o, o.warmupSeconds, "warmup");
                long cycles = Arrays.stream(w.perThreadCycles).sum();
                System.err.printf(Locale.ROOT, "hikaricp: warm-up %.2f s, %d cycles (%.1f M/s), %d errors%n",
                                  w.seconds, cycles, cycles / w.seconds / 1e6, w.errors);
                awaitFilled(ds, o.connections);
            }
            r = runPhase(ds, o, o.seconds, "run");
        } catch (RuntimeException e) {
            System.err.println("hikaricp: " + e);
            System.exit(1);
            return;
        }
        System.out.println(json(o, r, variant));
        System.out.flush();
    }
}
