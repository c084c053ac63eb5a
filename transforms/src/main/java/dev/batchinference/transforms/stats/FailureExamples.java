package dev.batchinference.transforms.stats;

import dev.batchinference.transforms.Failure;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * A few example failures per error (stage and error class): the first {@link #PER_ERROR} by source
 * and index, so that the set does not depend on the order records were processed in. Messages and
 * inputs are cut to {@link #MAX_CHARS}. Mergeable and bounded whatever the number of failures.
 */
public final class FailureExamples implements Serializable {

  /** Examples kept per error. */
  public static final int PER_ERROR = 3;

  /** Characters kept of an example's message and of its input. */
  public static final int MAX_CHARS = 300;

  private static final Comparator<Example> ORDER =
      Comparator.comparing(Example::source).thenComparingLong(Example::index);

  private final TreeMap<String, ArrayList<Example>> byError = new TreeMap<>();

  /** One failed record, cut to size. */
  public static final class Example implements Serializable {
    private final String id;
    private final String source;
    private final long index;
    private final String message;
    private final String input;

    Example(String id, String source, long index, String message, String input) {
      this.id = id;
      this.source = source;
      this.index = index;
      this.message = message;
      this.input = input;
    }

    /** The record's id, or null when it was not known. */
    public String id() {
      return id;
    }

    public String source() {
      return source;
    }

    public long index() {
      return index;
    }

    public String message() {
      return message;
    }

    /** The input as read (or the carried fields), cut to {@link #MAX_CHARS}; may be null. */
    public String input() {
      return input;
    }

    @Override
    public boolean equals(Object o) {
      if (!(o instanceof Example)) {
        return false;
      }
      Example e = (Example) o;
      return index == e.index
          && Objects.equals(id, e.id)
          && source.equals(e.source)
          && message.equals(e.message)
          && Objects.equals(input, e.input);
    }

    @Override
    public int hashCode() {
      return Objects.hash(source, index);
    }
  }

  /** Keeps {@code failure} if it is among the first examples of {@code error}. */
  public void add(String error, Failure failure) {
    Example e =
        new Example(
            failure.id(),
            failure.source(),
            failure.index(),
            cut(failure.message()),
            failure.input() == null ? null : cut(failure.input()));
    keep(byError.computeIfAbsent(error, k -> new ArrayList<>()), List.of(e));
  }

  public void merge(FailureExamples other) {
    other.byError.forEach(
        (error, examples) ->
            keep(byError.computeIfAbsent(error, k -> new ArrayList<>()), examples));
  }

  /** Examples by error, each list in source and index order. */
  public SortedMap<String, List<Example>> byError() {
    TreeMap<String, List<Example>> copy = new TreeMap<>();
    byError.forEach((k, v) -> copy.put(k, Collections.unmodifiableList(v)));
    return Collections.unmodifiableSortedMap(copy);
  }

  private static void keep(ArrayList<Example> kept, List<Example> more) {
    kept.addAll(more);
    kept.sort(ORDER);
    while (kept.size() > PER_ERROR) {
      kept.remove(kept.size() - 1);
    }
  }

  private static String cut(String s) {
    if (s.length() <= MAX_CHARS) {
      return s;
    }
    int end = MAX_CHARS;
    if (Character.isHighSurrogate(s.charAt(end - 1))) {
      end--;
    }
    return s.substring(0, end) + "…";
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof FailureExamples && byError.equals(((FailureExamples) o).byError);
  }

  @Override
  public int hashCode() {
    return byError.hashCode();
  }
}
