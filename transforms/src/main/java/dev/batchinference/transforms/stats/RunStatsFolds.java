package dev.batchinference.transforms.stats;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.coders.Coder;
import org.apache.beam.sdk.coders.SerializableCoder;
import org.apache.beam.sdk.transforms.Combine;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.windowing.BoundedWindow;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;

/**
 * The partial {@link RunStats} of a run's collections, each folded where it is made: one step per
 * collection folds every bundle into one partial (no shuffle, no side input), and the partials of
 * all the collections are merged by one combine downstream (the run summary's). A {@link
 * Combine#globally} per collection would do the same work with about nine steps each (keys, a
 * combine per key, and the default value for an empty input through a side input); a job counts ten
 * collections or so, and on Flink and the DirectRunner every step costs start-up time whatever it
 * carries.
 *
 * <p>What each combine function folds from nothing ({@link Combine.CombineFn#createAccumulator()})
 * is kept too, and {@link #partials} adds those once, so that an empty collection still says what
 * it counted, as {@code Combine.globally} with its default does.
 */
public final class RunStatsFolds {

  private static final Coder<RunStats> CODER = SerializableCoder.of(RunStats.class);

  private final List<PCollection<RunStats>> folded = new ArrayList<>();
  private final ArrayList<RunStats> empty = new ArrayList<>();

  /** Adds the step {@code name}, which folds each bundle of {@code input} with {@code fn}. */
  public <T> RunStatsFolds fold(
      String name, PCollection<T> input, Combine.CombineFn<T, RunStats, RunStats> fn) {
    folded.add(input.apply(name, new Fold<>(fn)));
    empty.add(fn.extractOutput(fn.createAccumulator()));
    return this;
  }

  /**
   * Every partial added so far, and (as the step {@code emptyStepName} of {@code pipeline}) what
   * the folds make of nothing: merged, they are the run's statistics.
   */
  public PCollectionList<RunStats> partials(Pipeline pipeline, String emptyStepName) {
    return PCollectionList.of(folded)
        .and(pipeline.apply(emptyStepName, Create.of(empty).withCoder(CODER)));
  }

  /** Folds each bundle of its input with a combine function: one {@link RunStats} per bundle. */
  public static final class Fold<T> extends PTransform<PCollection<T>, PCollection<RunStats>> {
    private final Combine.CombineFn<T, RunStats, RunStats> fn;

    public Fold(Combine.CombineFn<T, RunStats, RunStats> fn) {
      this.fn = fn;
    }

    @Override
    public PCollection<RunStats> expand(PCollection<T> input) {
      return input.apply(ParDo.of(new FoldFn<>(fn))).setCoder(CODER);
    }
  }

  /**
   * Keeps one accumulator per window for the bundle, and outputs each when the bundle finishes, at
   * the end of its window.
   */
  static final class FoldFn<T> extends DoFn<T, RunStats> {
    private final Combine.CombineFn<T, RunStats, RunStats> fn;
    private transient Map<BoundedWindow, RunStats> partials;

    FoldFn(Combine.CombineFn<T, RunStats, RunStats> fn) {
      this.fn = fn;
    }

    @StartBundle
    public void startBundle() {
      partials = new HashMap<>();
    }

    @ProcessElement
    public void processElement(@Element T element, BoundedWindow window) {
      RunStats accumulator = partials.get(window);
      partials.put(
          window, fn.addInput(accumulator == null ? fn.createAccumulator() : accumulator, element));
    }

    @FinishBundle
    public void finishBundle(FinishBundleContext context) {
      partials.forEach(
          (window, accumulator) ->
              context.output(fn.extractOutput(accumulator), window.maxTimestamp(), window));
      partials = new HashMap<>();
    }
  }
}
