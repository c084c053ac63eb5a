package dev.batchinference.transforms.testing;

import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

/**
 * A small harness for bounded random (property-based) tests that run inside the unit test suite: a
 * property is checked on generated cases until a wall-clock budget is spent.
 *
 * <p>Every run draws one seed (printed on failure and in the test output); each case gets its own
 * {@link Random} derived from the seed, the property's name and the case number, so a failure can
 * be replayed exactly. System properties (Maven passes {@code -D} options on to the tests):
 *
 * <ul>
 *   <li>{@code fuzz.seed}: the seed to use instead of a fresh one;
 *   <li>{@code fuzz.millis}: the budget per property in milliseconds (default 2000);
 *   <li>{@code fuzz.case}: run only this case number (with the seed of the failing run).
 * </ul>
 *
 * <pre>{@code
 * mvn -o -pl transforms test -Dtest=ReadRecordsFuzzTest -Dfuzz.seed=123 -Dfuzz.case=57
 * }</pre>
 */
public final class Fuzz {

  /** The seed of this run: {@code fuzz.seed}, or a fresh one. */
  public static final long SEED =
      Long.getLong("fuzz.seed", new SecureRandom().nextLong() & Long.MAX_VALUE);

  /** The budget per property in milliseconds: {@code fuzz.millis}, 2000 by default. */
  public static final long MILLIS = Long.getLong("fuzz.millis", 2000L);

  private static final Long ONLY_CASE = Long.getLong("fuzz.case");

  /** What the cases of the property being checked ran into, by label, for the summary line. */
  private static final Map<String, Long> NOTES = new TreeMap<>();

  private Fuzz() {}

  /** One case of a property: generate an input from {@code random} and check it. */
  @FunctionalInterface
  public interface Property {
    void check(Random random) throws Exception;
  }

  /**
   * Checks {@code property} on cases until the budget is spent (at least one case) and returns the
   * number of cases run. A failing case throws an {@link AssertionError} that names the seed and
   * the case, and how to replay it.
   */
  public static long check(String name, Property property) {
    return check(name, MILLIS, property);
  }

  /** As {@link #check(String, Property)} with a budget of {@code millis}. */
  public static long check(String name, long millis, Property property) {
    long start = System.nanoTime();
    long deadline = start + millis * 1_000_000L;
    long cases = 0;
    long first = ONLY_CASE == null ? 0 : ONLY_CASE;
    synchronized (NOTES) {
      NOTES.clear();
    }
    for (long n = first; ; n++) {
      if (ONLY_CASE != null ? n > ONLY_CASE : cases > 0 && System.nanoTime() > deadline) {
        break;
      }
      long caseSeed = caseSeed(name, n);
      try {
        property.check(new Random(caseSeed));
      } catch (Throwable e) {
        throw new AssertionError(
            String.format(
                "property '%s' failed at case %d (fuzz.seed=%d, case seed %d); replay with"
                    + " -Dfuzz.seed=%d -Dfuzz.case=%d: %s",
                name, n, SEED, caseSeed, SEED, n, e),
            e);
      }
      cases++;
    }
    synchronized (NOTES) {
      System.out.printf(
          "fuzz %s: %d cases in %d ms (fuzz.seed=%d) %s%n",
          name, cases, (System.nanoTime() - start) / 1_000_000L, SEED, NOTES);
    }
    return cases;
  }

  /**
   * Counts that a case ran into {@code label} (a kind of input or outcome); the counts are printed
   * with the property's summary, to show what the generated cases covered.
   */
  public static void note(String label) {
    synchronized (NOTES) {
      NOTES.merge(label, 1L, Long::sum);
    }
  }

  /** The seed of case {@code n} of property {@code name} in this run. */
  public static long caseSeed(String name, long n) {
    long h = SEED;
    for (byte b : name.getBytes(StandardCharsets.UTF_8)) {
      h = mix(h ^ b);
    }
    return mix(h ^ mix(n + 0x9E3779B97F4A7C15L));
  }

  /** SplitMix64's finaliser. */
  private static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  // ---- generators shared by the properties ----

  /** One of {@code options}. */
  @SafeVarargs
  public static <T> T oneOf(Random random, T... options) {
    return options[random.nextInt(options.length)];
  }

  /** True with probability {@code p}. */
  public static boolean chance(Random random, double p) {
    return random.nextDouble() < p;
  }

  /** A size biased towards small values: 0..max, half of the time 0..min(max, 8). */
  public static int size(Random random, int max) {
    return random.nextBoolean() ? random.nextInt(Math.min(max, 8) + 1) : random.nextInt(max + 1);
  }

  /**
   * A random string of up to {@code maxLength} chars mixing ASCII, punctuation that matters to CSV
   * and JSON, whitespace, non-ASCII BMP characters and supplementary (surrogate pair) characters;
   * never lone surrogates.
   */
  public static String text(Random random, int maxLength) {
    int n = size(random, maxLength);
    StringBuilder sb = new StringBuilder(n);
    while (sb.length() < n) {
      switch (random.nextInt(10)) {
        case 0:
          sb.append(oneOf(random, ',', '"', '\'', '\\', '{', '}', '[', ']', ':', '\t', ' '));
          break;
        case 1:
          sb.append(oneOf(random, "é", "ß", "✓", "中", "\u00A0", "\u2028", "\u3000", "\uFEFF"));
          break;
        case 2:
          sb.appendCodePoint(0x1F600 + random.nextInt(80)); // emoji: a surrogate pair
          break;
        case 3:
          sb.append((char) (0x80 + random.nextInt(0xD800 - 0x80)));
          break;
        default:
          sb.append((char) (' ' + random.nextInt(95)));
      }
    }
    return sb.toString();
  }

  /** A printable, escaped and abbreviated form of {@code bytes} for failure messages. */
  public static String show(byte[] bytes) {
    StringBuilder sb = new StringBuilder();
    int limit = Math.min(bytes.length, 400);
    for (int i = 0; i < limit; i++) {
      int b = bytes[i] & 0xff;
      if (b >= 0x20 && b < 0x7f && b != '\\') {
        sb.append((char) b);
      } else if (b == '\n') {
        sb.append("\\n");
      } else if (b == '\r') {
        sb.append("\\r");
      } else {
        sb.append(String.format("\\x%02X", b));
      }
    }
    if (bytes.length > limit) {
      sb.append("...(").append(bytes.length).append(" bytes)");
    }
    return sb.toString();
  }

  /** {@link #show(byte[])} of a string's UTF-8 bytes. */
  public static String show(String s) {
    return show(s.getBytes(StandardCharsets.UTF_8));
  }
}
