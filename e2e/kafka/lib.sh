# Shared by the e2e/kafka scripts: where the Apache Kafka jars are cached and
# how to fetch them. Source it; it defines KAFKA_HOME_DIR, kafka_jars and
# kafka_java.

KAFKA_HOME_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_LIB="$KAFKA_HOME_DIR/target/lib"

# kafka_jars fetches Kafka's jars from Maven Central into target/lib once
# (again only when pom.xml changes).
kafka_jars() {
  local stamp="$KAFKA_HOME_DIR/target/.jars-fetched"
  if [[ -f "$stamp" && "$stamp" -nt "$KAFKA_HOME_DIR/pom.xml" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || { echo "e2e/kafka: mvn not found (apt-get install -y maven)" >&2; return 1; }
  echo "e2e/kafka: fetching Apache Kafka jars from Maven Central into $KAFKA_LIB" >&2
  rm -rf "$KAFKA_LIB"
  mvn -q -B -f "$KAFKA_HOME_DIR/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$KAFKA_LIB" -DincludeScope=runtime >&2
  touch "$stamp"
}

# kafka_java CLASS ARGS... runs a class from Kafka's jars with logging at WARN.
# KAFKA_EXEC=1 kafka_java ... replaces the shell with the JVM (exec), so a
# caller's pid for it is the JVM's.
kafka_java() {
  ${KAFKA_EXEC:+exec} java ${KAFKA_TOOL_OPTS:--Xmx512m} \
    -Dlog4j2.configurationFile="$KAFKA_HOME_DIR/log4j2.properties" \
    -cp "$KAFKA_LIB/*" "$@"
}
