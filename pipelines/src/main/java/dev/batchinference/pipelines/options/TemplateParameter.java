package dev.batchinference.pipelines.options;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import java.util.List;
import java.util.Set;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * How an option appears as a parameter of the Dataflow Flex Template ({@code
 * templates/metadata.json}): its parameter type and the regex the template checks a value against
 * before the job starts. Every option the template exposes carries exactly one; the generator
 * ({@code TemplateMetadata}) refuses an exposed getter without it rather than guess from its name.
 *
 * <p>A regex must accept every value the job accepts and refuse what the job would refuse anyway: a
 * value the template refuses never reaches the job.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.METHOD)
public @interface TemplateParameter {

  /** The kind of value the option takes. */
  Kind value();

  /** Kinds of parameter values: the template's type, its regex and the Java types it fits. */
  enum Kind {
    /** Free text: no regex. */
    TEXT("TEXT", null, Set.of(String.class)),
    /** A comma-separated list of non-empty items. */
    TEXT_LIST("TEXT", "^[^,]+(,[^,]+)*$", Set.of(List.class)),
    /** A comma-separated list of whole numbers (0 or more). */
    NUMBER_LIST("TEXT", "^[0-9]+(,[0-9]+)*$", Set.of(List.class)),
    /** One of the enum's constants; the regex lists them. */
    ENUM("ENUM", null, Set.of(Enum.class)),
    /** {@code true} or {@code false}. */
    BOOLEAN("BOOLEAN", "^(true|false)$", Set.of(boolean.class, Boolean.class)),
    /** A whole number, 0 or more. */
    WHOLE_NUMBER("NUMBER", "^[0-9]+$", Set.of(int.class, long.class, Integer.class, Long.class)),
    /**
     * A decimal number, signed (the thresholds turn off below 0), with an optional fraction and
     * exponent: {@code 0.25}, {@code .5}, {@code -1}, {@code 1e-3}. Java's other spellings ({@code
     * NaN}, {@code Infinity}, hexadecimal, a trailing {@code d}) are refused: none is a threshold
     * anyone means.
     */
    DECIMAL(
        "NUMBER",
        "^[-+]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][-+]?[0-9]+)?$",
        Set.of(double.class, Double.class)),
    /** A BigQuery table: {@code [PROJECT:]DATASET.TABLE} (or {@code PROJECT.DATASET.TABLE}). */
    BIGQUERY_TABLE("BIGQUERY_TABLE", "^([^:.]+[:.])?[^:.]+[.][^:.]+$", Set.of(String.class)),
    /**
     * A PostgreSQL table: {@code name} or {@code schema.name} of plain identifiers (a letter or
     * {@code _}, then letters, digits or {@code _}, 63 at most), what {@code
     * WritePostgres.isTableName} accepts.
     */
    POSTGRES_TABLE(
        "TEXT",
        "^[A-Za-z_][A-Za-z0-9_]{0,62}([.][A-Za-z_][A-Za-z0-9_]{0,62})?$",
        Set.of(String.class)),
    /** Files in Cloud Storage: {@code gs://BUCKET/PATTERN}. */
    GCS_FILE_PATTERN("TEXT", "^gs://[^/]+/.+$", Set.of(String.class)),
    /** A folder in Cloud Storage the job writes to: {@code gs://BUCKET[/PATH]}. */
    GCS_WRITE_FOLDER("GCS_WRITE_FOLDER", "^gs://[^/]+(/.*)?$", Set.of(String.class)),
    /**
     * A file in Cloud Storage or packaged with the job: {@code gs://BUCKET/PATH} or {@code
     * classpath:NAME}.
     */
    GCS_OR_CLASSPATH_FILE("TEXT", "^(gs://[^/]+/|classpath:).+$", Set.of(String.class));

    private final String paramType;
    private final @Nullable String regex;
    private final Set<Class<?>> javaTypes;

    Kind(String paramType, @Nullable String regex, Set<Class<?>> javaTypes) {
      this.paramType = paramType;
      this.regex = regex;
      this.javaTypes = javaTypes;
    }

    /** The template's {@code paramType}. */
    public String paramType() {
      return paramType;
    }

    /** The regex a value must match; {@code null} for free text and for enums (their names). */
    public @Nullable String regex() {
      return regex;
    }

    /** Whether an option of Java type {@code type} can take values of this kind. */
    public boolean fits(Class<?> type) {
      for (Class<?> javaType : javaTypes) {
        if (javaType.isAssignableFrom(type)) {
          return true;
        }
      }
      return false;
    }
  }
}
