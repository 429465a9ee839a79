#include "config/config.hpp"

#include <gtest/gtest.h>

namespace hearth::config {
namespace {

TEST(Config, DefaultsAreValid) {
  config c;
  EXPECT_NO_THROW(validate(c));
  EXPECT_EQ(c.http_addr, "127.0.0.1:3000");
  EXPECT_EQ(c.body_limit_bytes, 1 << 20);
  EXPECT_EQ(c.sse_heartbeat_ms, 15'000);
  EXPECT_TRUE(c.database_url.empty());
}

TEST(Config, LayersInOrderFileEnvFlags) {
  config c;
  apply_json(c, R"({"httpAddr":"127.0.0.1:1","logLevel":"warn","dbPoolSize":3})", "f.json");
  EXPECT_EQ(c.http_addr, "127.0.0.1:1");
  EXPECT_EQ(c.db_pool_size, 3);
  apply_env(c, {{"HEARTH_HTTP_ADDR", "127.0.0.1:2"}, {"PATH", "/bin"}});
  EXPECT_EQ(c.http_addr, "127.0.0.1:2");
  EXPECT_EQ(c.log_level, "warn");  // untouched by the environment
  apply_flags(c, {{"--http-addr", "127.0.0.1:3"}});
  EXPECT_EQ(c.http_addr, "127.0.0.1:3");
  EXPECT_EQ(c.db_pool_size, 3);
}

TEST(Config, ANulCharacterInTheFileIsAnError) {
  config c;
  try {
    apply_json(c, R"({"dataDir":"/var/lib/hearth\u0000x"})", "f.json");
    FAIL() << "no error; dataDir is now " << c.data_dir;
  } catch (const config_error& e) {
    EXPECT_NE(std::string(e.what()).find("dataDir"), std::string::npos) << e.what();
  }
}

TEST(Config, UnknownKeysAreErrors) {
  config c;
  try {
    apply_json(c, R"({"httpAdr":"x"})", "f.json");
    FAIL() << "no error";
  } catch (const config_error& e) {
    EXPECT_NE(std::string(e.what()).find("httpAdr"), std::string::npos);
  }
  try {
    apply_env(c, {{"HEARTH_BOGUS", "1"}});
    FAIL() << "no error";
  } catch (const config_error& e) {
    EXPECT_NE(std::string(e.what()).find("HEARTH_BOGUS"), std::string::npos);
  }
  EXPECT_THROW(apply_flags(c, {{"--nope", "1"}}), config_error);
}

// --help's types and defaults come from the table and the defaults.
TEST(Config, EveryKeyHasATypeAndADefault) {
  for (const auto& k : hearth::config::keys()) {
    EXPECT_TRUE(k.type == "TEXT" || k.type == "INT" || k.type == "BOOL") << k.json;
    if (k.type == "BOOL") {
      EXPECT_TRUE(k.default_value == "true" || k.default_value == "false") << k.json;
    }
    if (k.json == "httpAddr") {
      EXPECT_EQ(k.default_value, "127.0.0.1:3000");
    }
    if (k.json == "dbPoolSize") {
      EXPECT_EQ(k.default_value, "8");
    }
  }
}

// The message of the config_error `f` throws, or "no error".
template <class F>
std::string message(F f) {
  try {
    f();
  } catch (const config_error& e) {
    return e.what();
  }
  return "no error";
}

// An unknown name gets the closest known one of its kind, when close.
TEST(Config, UnknownNamesSuggestTheClosest) {
  config c;
  EXPECT_NE(message([&] {
              apply_env(c, {{"HEARTH_HTP_ADDR", "x"}});
            }).find("did you mean HEARTH_HTTP_ADDR?"),
            std::string::npos);
  EXPECT_NE(message([&] {
              apply_json(c, R"({"httpadr":"x"})", "f.json");
            }).find("did you mean httpAddr?"),
            std::string::npos);
  EXPECT_EQ(hearth::config::suggest_flag("--db-pol-size"), " (did you mean --db-pool-size?)");
  EXPECT_EQ(hearth::config::suggest_flag("--completely-different-thing"), "");
}

// A bad value's error names the key as it was given (environment variable,
// flag or JSON key); a key documented as ignored takes any integer.
TEST(Config, ErrorsNameTheKeyAsGiven) {
  config c;
  EXPECT_NE(message([&] {
              apply_env(c, {{"HEARTH_DB_POOL_SIZE", "8x"}});
            }).find("environment HEARTH_DB_POOL_SIZE must be an integer"),
            std::string::npos);
  EXPECT_NE(message([&] {
              apply_flags(c, {{"--db-pool-size", "0"}});
            }).find("flag --db-pool-size must be between"),
            std::string::npos);
  EXPECT_NE(message([&] {
              apply_json(c, R"({"dbPoolSize":0})", "f.json");
            }).find("f.json: dbPoolSize must be between"),
            std::string::npos);
  EXPECT_NO_THROW(apply_env(c, {{"HEARTH_SCHEDULER_INTERVAL_MS", "1"}}));
}

TEST(Config, BadValuesAreErrors) {
  config c;
  EXPECT_THROW(apply_json(c, R"({"dbPoolSize":"eight"})", "f"), config_error);
  EXPECT_THROW(apply_json(c, R"({"httpAddr":5})", "f"), config_error);
  EXPECT_THROW(apply_json(c, R"({"dbPoolSize":0})", "f"), config_error);
  EXPECT_THROW(apply_json(c, R"([1,2])", "f"), config_error);
  EXPECT_THROW(apply_json(c, R"({"httpAddr":)", "f"), config_error);
  EXPECT_THROW(apply_env(c, {{"HEARTH_DB_POOL_SIZE", "8x"}}), config_error);
  EXPECT_THROW(apply_env(c, {{"HEARTH_DB_POOL_SIZE", ""}}), config_error);
  EXPECT_THROW(apply_env(c, {{"HEARTH_SSE_HEARTBEAT_MS", "-5"}}), config_error);
}

// A boolean key: JSON true/false; environment and flags true/false or 1/0.
TEST(Config, BooleanKeys) {
  config c;
  EXPECT_TRUE(c.uptime_status_public);  // the default
  apply_json(c, R"({"uptimeStatusPublic":false})", "f.json");
  EXPECT_FALSE(c.uptime_status_public);
  apply_env(c, {{"HEARTH_UPTIME_STATUS_PUBLIC", "true"}});
  EXPECT_TRUE(c.uptime_status_public);
  apply_flags(c, {{"--uptime-status-public", "0"}});
  EXPECT_FALSE(c.uptime_status_public);
  apply_flags(c, {{"--uptime-status-public", "1"}});
  EXPECT_TRUE(c.uptime_status_public);
  for (const char* bad : {R"({"uptimeStatusPublic":"false"})", R"({"uptimeStatusPublic":0})",
                          R"({"uptimeStatusPublic":null})"}) {
    try {
      apply_json(c, bad, "f.json");
      FAIL() << "no error for " << bad;
    } catch (const config_error& e) {
      EXPECT_NE(std::string(e.what()).find("uptimeStatusPublic must be true or false"),
                std::string::npos)
          << e.what();
    }
  }
  for (const char* bad : {"yes", "", "TRUE", "2"})
    EXPECT_THROW(apply_env(c, {{"HEARTH_UPTIME_STATUS_PUBLIC", bad}}), config_error) << bad;
  EXPECT_TRUE(c.uptime_status_public);  // unchanged by the errors
}

TEST(Config, ValidateChecksAddressAndLevel) {
  config c;
  c.http_addr = "localhost";
  EXPECT_THROW(validate(c), config_error);
  c.http_addr = "127.0.0.1:99999";
  EXPECT_THROW(validate(c), config_error);
  c.http_addr = "[::1]:0";
  EXPECT_NO_THROW(validate(c));
  c.log_level = "verbose";
  EXPECT_THROW(validate(c), config_error);
}

TEST(Config, ValidateChecksClusterSettings) {
  config c;
  EXPECT_EQ(c.cluster_addr, "127.0.0.1:0");  // any free port: nodes on one host just work
  c.cluster_addr = "10.0.0.1";
  EXPECT_THROW(validate(c), config_error);
  c.cluster_addr = "0.0.0.0:4000";
  c.cluster_advertise_addr = "10.0.0.11";
  EXPECT_THROW(validate(c), config_error);
  c.cluster_advertise_addr = "10.0.0.11:4000";
  EXPECT_NO_THROW(validate(c));
  // The stale limit must leave room for several missed heartbeats.
  c.cluster_heartbeat_ms = 500;
  c.cluster_stale_ms = 1000;
  EXPECT_THROW(validate(c), config_error);
  c.cluster_stale_ms = 2000;
  EXPECT_NO_THROW(validate(c));
  EXPECT_THROW(apply_env(c, {{"HEARTH_CLUSTER_HEARTBEAT_MS", "10"}}), config_error);
  apply_env(c, {{"HEARTH_CLUSTER_STALE_MS", "4000"}, {"HEARTH_NODE_ID", "node-a"}});
  EXPECT_EQ(c.cluster_stale_ms, 4000);
  EXPECT_EQ(c.node_id, "node-a");
}

TEST(Config, TlsCertAndKeyGoTogether) {
  config c;
  c.tls_cert = "/etc/hearth/cert.pem";
  EXPECT_THROW(validate(c), config_error);
  c.tls_key = "/etc/hearth/key.pem";
  EXPECT_NO_THROW(validate(c));
}

TEST(Config, SplitHostPort) {
  EXPECT_EQ(split_host_port("127.0.0.1:3000"),
            (std::pair<std::string, std::uint16_t>{"127.0.0.1", 3000}));
  EXPECT_EQ(split_host_port("[::1]:0"), (std::pair<std::string, std::uint16_t>{"::1", 0}));
  EXPECT_EQ(split_host_port("db.internal:5432").first, "db.internal");
  EXPECT_THROW(split_host_port("nohost"), config_error);
  EXPECT_THROW(split_host_port(":80"), config_error);
  EXPECT_THROW(split_host_port("h:70000"), config_error);
  EXPECT_THROW(split_host_port("h:x"), config_error);
}

TEST(Config, SecurityKeys) {
  config c = defaults();
  EXPECT_EQ(c.auth_failure_limit, 10);
  EXPECT_EQ(c.auth_ip_failure_limit, 50);
  EXPECT_EQ(c.csrf_require_origin, 0);
  apply_env(c, {{"HEARTH_AUTH_FAILURE_LIMIT", "3"},
                {"HEARTH_AUTH_RETRY_AFTER_MS", "2000"},
                {"HEARTH_CSRF_REQUIRE_ORIGIN", "1"}});
  EXPECT_EQ(c.auth_failure_limit, 3);
  EXPECT_EQ(c.auth_retry_after_ms, 2000);
  EXPECT_EQ(c.csrf_require_origin, 1);
  EXPECT_THROW(apply_env(c, {{"HEARTH_CSRF_REQUIRE_ORIGIN", "2"}}), config_error);
  c.auth_max_retry_after_ms = 1000;
  EXPECT_THROW(validate(c), config_error);
}

TEST(Config, EveryKeyHasThreeNames) {
  for (const auto& k : keys()) {
    EXPECT_FALSE(k.json.empty());
    EXPECT_EQ(k.env.rfind("HEARTH_", 0), 0u) << k.env;
    EXPECT_EQ(k.flag.rfind("--", 0), 0u) << k.flag;
  }
}

TEST(Config, ClusterTLSNeedsAllThreeFiles) {
  config c;
  EXPECT_NO_THROW(validate(c));  // none: plaintext links
  apply_env(c, {{"HEARTH_CLUSTER_TLS_CERT", "/etc/hearth/node.pem"},
                {"HEARTH_CLUSTER_TLS_KEY", "/etc/hearth/node.key"}});
  EXPECT_EQ(c.cluster_tls_cert, "/etc/hearth/node.pem");
  try {
    validate(c);
    ADD_FAILURE() << "a certificate and key without a CA passed";
  } catch (const config_error& e) {
    EXPECT_NE(std::string(e.what()).find("missing clusterTLSCA"), std::string::npos) << e.what();
  }
  apply_flags(c, {{"--cluster-tls-ca", "/etc/hearth/cluster-ca.pem"}});
  EXPECT_NO_THROW(validate(c));
  apply_json(c, R"({"clusterTLSKey":""})", "f");
  try {
    validate(c);
    ADD_FAILURE() << "a missing key passed";
  } catch (const config_error& e) {
    EXPECT_NE(std::string(e.what()).find("missing clusterTLSKey"), std::string::npos) << e.what();
  }
}

TEST(Config, TracingKeys) {
  auto c = defaults();
  EXPECT_EQ(c.otlp_endpoint, "");  // tracing off by default
  EXPECT_EQ(c.otlp_flush_ms, 1000);
  EXPECT_EQ(c.trace_sample_ratio, 1.0);
  apply_env(c, {{"HEARTH_OTLP_ENDPOINT", "http://127.0.0.1:4318"},
                {"HEARTH_OTLP_FLUSH_MS", "250"},
                {"HEARTH_TRACE_SAMPLE_RATIO", "0.25"}});
  EXPECT_EQ(c.otlp_endpoint, "http://127.0.0.1:4318");
  EXPECT_EQ(c.otlp_flush_ms, 250);
  EXPECT_EQ(c.trace_sample_ratio, 0.25);
  EXPECT_THROW(apply_env(c, {{"HEARTH_TRACE_SAMPLE_RATIO", "1.5"}}), config_error);
  EXPECT_THROW(apply_env(c, {{"HEARTH_TRACE_SAMPLE_RATIO", "half"}}), config_error);
  EXPECT_THROW(apply_env(c, {{"HEARTH_TRACE_SAMPLE_RATIO", "0.5x"}}), config_error);
  EXPECT_THROW(apply_env(c, {{"HEARTH_OTLP_FLUSH_MS", "0"}}), config_error);
  EXPECT_EQ(c.trace_sample_ratio, 0.25);
}

}  // namespace
}  // namespace hearth::config
