package dev.batchinference.templates;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.pipelines.options.TemplateParameter;
import dev.batchinference.pipelines.options.TemplateParameter.Kind;
import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Deque;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.beam.sdk.options.Default;
import org.apache.beam.sdk.options.Description;
import org.apache.beam.sdk.options.Hidden;
import org.apache.beam.sdk.options.PipelineOptions;

/**
 * The Flex Template's metadata ({@code templates/metadata.json}): one parameter per option of
 * {@link BatchInferenceOptions} and the interfaces it is composed of, its help text from the
 * option's description and default, and its type and validation regex from the {@link
 * TemplateParameter} the option declares (an option without one is an error, not a guess).
 * Dataflow's own options (region, workers, machine type, service account) are not parameters:
 * {@code gcloud dataflow flex-template run} takes them as flags.
 *
 * <p>{@code mvn -q -pl templates exec:java} rewrites the file; a test fails when it is stale.
 */
public final class TemplateMetadata {

  static final String NAME = "batch-inference";
  static final String DESCRIPTION =
      "Scores a bounded dataset (JSON Lines, CSV or Parquet files in Cloud Storage, or a BigQuery"
          + " table or query) with an ONNX model in accelerator-sized batches, and writes each"
          + " record's prediction, joined with its id, to files or BigQuery. Records that fail go"
          + " to a dead letter that keeps their input; a run summary checks that nothing was lost.";

  private static final ObjectMapper JSON = new ObjectMapper();

  /** Interfaces of this project; the options of the others (Beam's) are not parameters. */
  private static final String PROJECT_PACKAGE = "dev.batchinference.";

  private TemplateMetadata() {}

  public static void main(String[] args) throws IOException {
    Path target = Paths.get(args.length > 0 ? args[0] : "templates/metadata.json");
    Files.writeString(target, render(), StandardCharsets.UTF_8);
    System.out.println("Wrote " + target);
  }

  /** The metadata file's text. */
  public static String render() throws IOException {
    return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(metadata()) + "\n";
  }

  static ObjectNode metadata() {
    return metadata(BatchInferenceOptions.class);
  }

  /** The metadata of a template whose job takes {@code options}. */
  static ObjectNode metadata(Class<? extends PipelineOptions> options) {
    ObjectNode root = JSON.createObjectNode();
    root.put("name", NAME);
    root.put("description", DESCRIPTION);
    root.put("streaming", false);
    ArrayNode parameters = root.putArray("parameters");
    Set<String> names = new LinkedHashSet<>();
    for (Method getter : options(options)) {
      // Two interfaces may declare the same option; the template must still have one parameter.
      if (!names.add(propertyName(getter))) {
        throw new IllegalStateException(
            "option " + propertyName(getter) + " is declared twice: declare it in one interface");
      }
      parameters.add(parameter(getter));
    }
    return root;
  }

  /**
   * The user-facing options of {@code options} and of every interface it is composed of: getters
   * with a description that are not hidden, declared in this project's interfaces (Beam's own
   * options, such as the runner or the temp location, are the launcher's flags), by name.
   */
  static List<Method> options(Class<? extends PipelineOptions> options) {
    return interfaces(options).stream()
        .filter(i -> i.getName().startsWith(PROJECT_PACKAGE))
        .flatMap(i -> Arrays.stream(i.getDeclaredMethods()))
        .filter(m -> m.getParameterCount() == 0 && m.getName().startsWith("get"))
        .filter(m -> m.isAnnotationPresent(Description.class))
        .filter(m -> !m.isAnnotationPresent(Hidden.class))
        .sorted(Comparator.comparing(TemplateMetadata::propertyName))
        .collect(Collectors.toList());
  }

  /** {@code type} and every interface it extends, directly or not, each once. */
  private static Set<Class<?>> interfaces(Class<?> type) {
    Set<Class<?>> all = new LinkedHashSet<>();
    Deque<Class<?>> todo = new ArrayDeque<>(List.of(type));
    while (!todo.isEmpty()) {
      Class<?> next = todo.pop();
      if (all.add(next)) {
        todo.addAll(Arrays.asList(next.getInterfaces()));
      }
    }
    return all;
  }

  static String propertyName(Method getter) {
    String name = getter.getName().substring(3);
    return Character.toLowerCase(name.charAt(0)) + name.substring(1);
  }

  /**
   * The parameter of one option, typed as its {@link TemplateParameter} declares.
   *
   * @throws IllegalStateException if the getter has no {@link TemplateParameter}, or one whose kind
   *     does not fit its Java type: a parameter's type is declared, never guessed.
   */
  static ObjectNode parameter(Method getter) {
    TemplateParameter declared = getter.getAnnotation(TemplateParameter.class);
    if (declared == null) {
      throw new IllegalStateException(
          String.format(
              "%s.%s is a template parameter but has no @TemplateParameter saying of what kind",
              getter.getDeclaringClass().getSimpleName(), getter.getName()));
    }
    Kind kind = declared.value();
    Class<?> type = getter.getReturnType();
    if (!kind.fits(type)) {
      throw new IllegalStateException(
          String.format(
              "%s.%s returns %s, which a %s template parameter cannot hold",
              getter.getDeclaringClass().getSimpleName(),
              getter.getName(),
              type.getSimpleName(),
              kind));
    }
    String name = propertyName(getter);
    ObjectNode p = JSON.createObjectNode();
    p.put("name", name);
    p.put("label", label(name));
    String help = getter.getAnnotation(Description.class).value();
    String defaultValue = defaultValue(getter);
    if (defaultValue != null && !help.contains("Default")) {
      help = help + " Default: " + defaultValue + ".";
    }
    p.put("helpText", help);
    p.put("isOptional", true);
    p.put("paramType", kind.paramType());
    if (kind == Kind.ENUM) {
      List<String> constants =
          Arrays.stream(type.getEnumConstants())
              .map(c -> ((Enum<?>) c).name())
              .collect(Collectors.toList());
      ArrayNode options = p.putArray("enumOptions");
      constants.forEach(c -> options.addObject().put("value", c));
      p.putArray("regexes").add("^(" + String.join("|", constants) + ")$");
    } else if (kind.regex() != null) {
      p.putArray("regexes").add(kind.regex());
    }
    return p;
  }

  /** "inputTable" to "Input table", "bigQueryReadMethod" to "BigQuery read method". */
  static String label(String name) {
    String words =
        name.replaceAll("([a-z0-9])([A-Z])", "$1 $2")
            .toLowerCase(Locale.ROOT)
            .replace("big query", "BigQuery")
            .replace("cuda", "CUDA");
    return Character.toUpperCase(words.charAt(0)) + words.substring(1);
  }

  private static String defaultValue(Method getter) {
    if (getter.isAnnotationPresent(Default.String.class)) {
      return getter.getAnnotation(Default.String.class).value();
    }
    if (getter.isAnnotationPresent(Default.Enum.class)) {
      return getter.getAnnotation(Default.Enum.class).value();
    }
    if (getter.isAnnotationPresent(Default.Integer.class)) {
      return Integer.toString(getter.getAnnotation(Default.Integer.class).value());
    }
    if (getter.isAnnotationPresent(Default.Long.class)) {
      return Long.toString(getter.getAnnotation(Default.Long.class).value());
    }
    if (getter.isAnnotationPresent(Default.Boolean.class)) {
      return Boolean.toString(getter.getAnnotation(Default.Boolean.class).value());
    }
    return null;
  }
}
