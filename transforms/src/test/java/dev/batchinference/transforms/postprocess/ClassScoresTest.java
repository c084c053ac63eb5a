package dev.batchinference.transforms.postprocess;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.closeTo;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThan;
import static org.hamcrest.Matchers.lessThan;
import static org.hamcrest.Matchers.not;
import static org.hamcrest.Matchers.nullValue;
import static org.junit.Assert.assertThrows;

import dev.batchinference.transforms.Prediction;
import dev.batchinference.transforms.RecordMeta;
import dev.batchinference.transforms.model.LoadedModel;
import dev.batchinference.transforms.model.ModelIdentity;
import dev.batchinference.transforms.model.ModelSignature;
import dev.batchinference.transforms.onnx.OnnxModelHandler;
import dev.batchinference.transforms.tensor.Tensor;
import dev.batchinference.transforms.tensor.TensorExample;
import dev.batchinference.transforms.testing.BreastCancer;
import dev.batchinference.transforms.testing.FashionMnist;
import dev.batchinference.transforms.testing.TestModels;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.BeforeClass;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** Tests of {@link ClassScores} on the classifier's real outputs and on raw logits. */
@RunWith(JUnit4.class)
public class ClassScoresTest {

  private static final TensorExample NO_INPUT = TensorExample.of(Map.of());

  /** The classifier's probabilities for the first test image. */
  private static float[] probabilities;

  private static ModelSignature classifierSignature;

  /** The binary breast cancer classifier: one sigmoid output column, P(benign). */
  private static Path binaryModel;

  @BeforeClass
  public static void runTheClassifier() throws Exception {
    OnnxModelHandler handler = OnnxModelHandler.of(TestModels.classifier().toString());
    FashionMnist.Dataset data = FashionMnist.load(false, 1);
    try (LoadedModel<TensorExample, TensorExample> model = handler.load()) {
      probabilities =
          model.run(List.of(TestModels.image(data.images()[0]))).get(0).get("output").floats();
    }
    classifierSignature = handler.inspect();
    binaryModel = BreastCancer.trainedClassifier(Path.of("target", "test-models"));
  }

  private static Prediction fill(ClassScores scores, TensorExample outputs) {
    Prediction.Builder b =
        Prediction.builder(RecordMeta.of("r", "s", 0, null), ModelIdentity.of("m", "0"));
    scores.fill(NO_INPUT, outputs, b);
    return b.build();
  }

  private static Prediction fill(ClassScores scores, float... values) {
    return fill(scores, TensorExample.of("output", Tensor.vector(values)));
  }

  private static int argmax(float[] values) {
    int best = 0;
    for (int i = 1; i < values.length; i++) {
      best = values[i] > values[best] ? i : best;
    }
    return best;
  }

  @Test
  public void autoKeepsProbabilitiesAndLabelsTheBestClass() {
    Prediction p = fill(ClassScores.of().withLabels(FashionMnist.LABELS), probabilities);
    int best = argmax(probabilities);
    assertThat("label", p.label(), equalTo(FashionMnist.LABELS.get(best)));
    assertThat("label index", p.labelIndex(), equalTo(best));
    assertThat("score is the model's probability", p.score(), equalTo(probabilities[best]));
    assertThat("top-k leads with the label", p.topLabels()[0], equalTo(p.label()));
    assertThat("top-k scores descend", p.topScores()[1], lessThan(p.topScores()[0]));
    assertThat(
        "NONE gives the same for probabilities",
        fill(ClassScores.of().withActivation(ClassScores.Activation.NONE), probabilities).score(),
        equalTo(probabilities[best]));
    assertThat(
        "SOFTMAX applies anyway",
        (double)
            fill(ClassScores.of().withActivation(ClassScores.Activation.SOFTMAX), probabilities)
                .score(),
        not(closeTo(probabilities[best], 1e-3)));
  }

  @Test
  public void autoAppliesASoftmaxToLogitsAndNoneKeepsThem() {
    float[] logits = {2f, 1f, 0.1f};
    double expected = Math.exp(2) / (Math.exp(2) + Math.exp(1) + Math.exp(0.1));
    Prediction auto = fill(ClassScores.of(), logits);
    assertThat("auto softmax", (double) auto.score(), closeTo(expected, 1e-6));
    assertThat("classes are named by index without labels", auto.label(), equalTo("0"));
    float sum = 0;
    for (float s : auto.topScores()) {
      sum += s;
    }
    assertThat("all three classes sum to one", (double) sum, closeTo(1, 1e-6));

    Prediction none = fill(ClassScores.of().withActivation(ClassScores.Activation.NONE), logits);
    assertThat("raw score", none.score(), equalTo(2f));
    assertThat("raw top-k", none.topScores(), equalTo(logits));
  }

  @Test
  public void withTopKSetsHowManyClassesAreListed() {
    float[] scores = {0.1f, 0.6f, 0.3f};
    String[] labels = {"a", "b", "c"};
    ClassScores base = ClassScores.of().withLabels(List.of(labels));
    Prediction two = fill(base.withTopK(2), scores);
    assertThat(two.topLabels(), equalTo(new String[] {"b", "c"}));
    assertThat(two.topScores(), equalTo(new float[] {0.6f, 0.3f}));
    Prediction none = fill(base.withTopK(0), scores);
    assertThat("no top-k", none.topLabels(), nullValue());
    assertThat("the label is still set", none.label(), equalTo("b"));
    assertThat(
        "at most every class",
        fill(base.withTopK(10), scores).topLabels(),
        equalTo(new String[] {"b", "c", "a"}));
  }

  @Test
  public void withOutputPicksTheOutput() {
    Map<String, Tensor> outputs = new LinkedHashMap<>();
    outputs.put("first", Tensor.vector(new float[] {0.9f, 0.1f}));
    outputs.put("second", Tensor.vector(new float[] {0.2f, 0.8f}));
    TensorExample both = TensorExample.of(outputs);
    assertThat(
        "the first output by default", fill(ClassScores.of(), both).labelIndex(), equalTo(0));
    assertThat(fill(ClassScores.of().withOutput("second"), both).labelIndex(), equalTo(1));
  }

  @Test
  public void nonFiniteScoresFail() {
    IllegalStateException e =
        assertThrows(IllegalStateException.class, () -> fill(ClassScores.of(), 0.5f, Float.NaN));
    assertThat(e.getMessage(), equalTo("class score 1 is NaN"));
  }

  @Test
  public void checkComparesLabelsWithTheModel() throws Exception {
    ClassScores.of().withLabels(FashionMnist.LABELS).check(classifierSignature);
    IllegalArgumentException count =
        assertThrows(
            IllegalArgumentException.class,
            () -> ClassScores.of().withLabels(List.of("a", "b", "c")).check(classifierSignature));
    assertThat(
        count.getMessage(),
        equalTo(
            "The labels list has 3 names but model output 'output' has 10 classes. Check --classLabels."));
    IllegalArgumentException output =
        assertThrows(
            IllegalArgumentException.class,
            () -> ClassScores.of().withOutput("logits").check(classifierSignature));
    assertThat(
        output.getMessage(), containsString("has no output 'logits'; its outputs are [output]"));
    ModelSignature text = OnnxModelHandler.of(TestModels.MINILM).inspect();
    IllegalArgumentException rank =
        assertThrows(IllegalArgumentException.class, () -> ClassScores.of().check(text));
    assertThat(rank.getMessage(), containsString("class scores need [batch, classes]"));
  }

  @Test
  public void oneOutputColumnIsTheProbabilityOfClassOne() throws Exception {
    BreastCancer.Dataset data = BreastCancer.load();
    OnnxModelHandler handler = OnnxModelHandler.of(binaryModel.toString());
    List<TensorExample> heldOut = new ArrayList<>();
    for (int i = BreastCancer.TRAINING_RECORDS; i < data.size(); i++) {
      heldOut.add(TensorExample.of("input", Tensor.vector(data.features()[i])));
    }
    List<TensorExample> outputs;
    try (LoadedModel<TensorExample, TensorExample> model = handler.load()) {
      outputs = model.run(heldOut);
    }
    ClassScores scores = ClassScores.of().withLabels(BreastCancer.LABELS);
    scores.check(handler.inspect());
    int correct = 0;
    Set<String> labels = new HashSet<>();
    for (int i = 0; i < outputs.size(); i++) {
      float positive = outputs.get(i).get("output").floats()[0];
      Prediction p = fill(scores, outputs.get(i));
      int expected = positive >= 0.5f ? 1 : 0;
      assertThat("label index of P=" + positive, p.labelIndex(), equalTo(expected));
      assertThat(p.label(), equalTo(BreastCancer.LABELS.get(expected)));
      assertThat(
          "score is max(P, 1-P)",
          (double) p.score(),
          closeTo(Math.max(positive, 1 - positive), 1e-6));
      assertThat("top-k lists both classes", p.topLabels().length, equalTo(2));
      assertThat(p.topLabels()[0], equalTo(p.label()));
      assertThat(
          "the two classes' scores sum to one",
          (double) (p.topScores()[0] + p.topScores()[1]),
          closeTo(1, 1e-6));
      labels.add(p.label());
      correct += p.labelIndex() == data.targets()[BreastCancer.TRAINING_RECORDS + i] ? 1 : 0;
    }
    assertThat("both classes are predicted", labels, equalTo(Set.copyOf(BreastCancer.LABELS)));
    assertThat(
        "accuracy on " + outputs.size() + " held-out tumours",
        correct / (double) outputs.size(),
        greaterThan(0.9));
  }

  @Test
  public void oneColumnTakesASigmoidWhenAskedOrWhenItIsALogit() {
    Prediction logit = fill(ClassScores.of(), 2f);
    assertThat("AUTO: a logit gets a sigmoid", logit.label(), equalTo("1"));
    assertThat((double) logit.score(), closeTo(1 / (1 + Math.exp(-2)), 1e-6));
    Prediction negative = fill(ClassScores.of(), -1f);
    assertThat(negative.label(), equalTo("0"));
    assertThat((double) negative.score(), closeTo(1 - 1 / (1 + Math.exp(1)), 1e-6));

    Prediction probability = fill(ClassScores.of(), 0.3f);
    assertThat("AUTO: a probability is kept", probability.label(), equalTo("0"));
    assertThat((double) probability.score(), closeTo(0.7, 1e-6));
    assertThat(probability.topLabels(), equalTo(new String[] {"0", "1"}));

    Prediction sigmoid =
        fill(ClassScores.of().withActivation(ClassScores.Activation.SIGMOID), 0.3f);
    assertThat("SIGMOID applies anyway", sigmoid.label(), equalTo("1"));
    assertThat((double) sigmoid.score(), closeTo(1 / (1 + Math.exp(-0.3)), 1e-6));

    Prediction half = fill(ClassScores.of().withLabels(List.of("no", "yes")), 0.5f);
    assertThat("P = 0.5 is class 1", half.label(), equalTo("yes"));
    assertThat(half.score(), equalTo(0.5f));
  }

  @Test
  public void oneOutputColumnNeedsExactlyTwoLabels() throws Exception {
    ModelSignature binary = OnnxModelHandler.of(binaryModel.toString()).inspect();
    ClassScores.of().check(binary);
    ClassScores.of().withLabels(BreastCancer.LABELS).check(binary);
    for (List<String> labels : List.of(List.of("benign"), List.of("a", "b", "c"))) {
      IllegalArgumentException e =
          assertThrows(
              IllegalArgumentException.class,
              () -> ClassScores.of().withLabels(labels).check(binary));
      assertThat(
          e.getMessage(),
          containsString(
              "has one column, the probability of class 1 of a binary classifier, so the labels"
                  + " list needs exactly 2 names (class 0, then class 1), but it has "
                  + labels.size()));
    }
  }
}
