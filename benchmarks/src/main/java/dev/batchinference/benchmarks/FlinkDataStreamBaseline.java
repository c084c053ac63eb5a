package dev.batchinference.benchmarks;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.RuntimeExecutionMode;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.serialization.SimpleStringEncoder;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.connector.file.sink.FileSink;
import org.apache.flink.connector.file.src.FileSource;
import org.apache.flink.connector.file.src.reader.TextLineInputFormat;
import org.apache.flink.core.fs.Path;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.filesystem.bucketassigners.BasePathBucketAssigner;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.BoundedOneInput;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

/**
 * The job a Flink user would write by hand instead of this project's Beam job: a DataStream program
 * in BATCH mode on Flink's local mini cluster, {@code FileSource} text lines → {@code rebalance()}
 * → a buffering operator that parses, batches, runs the model (one ONNX Runtime session per
 * subtask) and emits one JSON line per record → {@code FileSink}. Flink's defaults otherwise
 * (object reuse off). Same arguments as {@link PlainLoop} plus {@code --parallelism=2}; writes part
 * files under {@code OUTPUT}.
 *
 * <p>The operator is a {@link BoundedOneInput} so that it flushes the last partial batch in {@code
 * endInput}: Flink's {@code countWindow} drops it in BATCH mode (1.19). Every operator gets the
 * parallelism explicitly, since BATCH mode's adaptive scheduler would otherwise choose its own.
 */
public final class FlinkDataStreamBaseline {

  private FlinkDataStreamBaseline() {}

  public static void main(String[] argv) throws Exception {
    Map<String, String> args = LineScorer.parseArgs(argv);
    int parallelism = Integer.parseInt(args.getOrDefault("parallelism", "2"));
    int batch = Integer.parseInt(args.getOrDefault("batch", "64"));
    LineScorer scorer = LineScorer.of(args);

    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setRuntimeMode(RuntimeExecutionMode.BATCH);
    env.setParallelism(parallelism);

    FileSource<String> source =
        FileSource.forRecordStreamFormat(new TextLineInputFormat(), new Path(args.get("input")))
            .build();
    FileSink<String> sink =
        FileSink.forRowFormat(
                new Path(args.get("output")), new SimpleStringEncoder<String>("UTF-8"))
            .withBucketAssigner(new BasePathBucketAssigner<>())
            .build();
    env.fromSource(source, WatermarkStrategy.noWatermarks(), "ReadLines")
        .setParallelism(parallelism)
        .rebalance()
        .transform("ParseBatchInfer", Types.STRING, new BatchingOperator(scorer, batch))
        .setParallelism(parallelism)
        .sinkTo(sink)
        .name("WriteLines")
        .setParallelism(parallelism);
    env.execute("flink-datastream-baseline-" + args.get("task"));
  }

  /**
   * Buffers lines into batches of {@code batchSize}, scores each full batch, and the last partial
   * one at the end of the input.
   */
  static final class BatchingOperator extends AbstractStreamOperator<String>
      implements OneInputStreamOperator<String, String>, BoundedOneInput {
    private static final long serialVersionUID = 1L;

    private final LineScorer scorer;
    private final int batchSize;
    private transient List<String> buffer;

    BatchingOperator(LineScorer scorer, int batchSize) {
      this.scorer = scorer;
      this.batchSize = batchSize;
    }

    @Override
    public void open() throws Exception {
      super.open();
      scorer.open();
      buffer = new ArrayList<>(batchSize);
    }

    @Override
    public void processElement(StreamRecord<String> element) throws Exception {
      buffer.add(element.getValue());
      if (buffer.size() == batchSize) {
        flush();
      }
    }

    @Override
    public void endInput() throws Exception {
      flush();
    }

    private void flush() throws Exception {
      for (String line : scorer.score(buffer)) {
        output.collect(new StreamRecord<>(line));
      }
      buffer.clear();
    }

    @Override
    public void close() throws Exception {
      try {
        scorer.close();
      } finally {
        super.close();
      }
    }
  }
}
