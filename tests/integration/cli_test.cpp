// The hearth command line: version, help, configuration errors, migrate.

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "tests/integration/fixture.hpp"

namespace hearth::testing {
namespace {

TEST(cli, version_prints_a_version) {
  auto [code, output] = hearth_process::run({}, {"version"});
  EXPECT_EQ(code, 0) << output;
  EXPECT_TRUE(std::any_of(output.begin(), output.end(), [](unsigned char c) {
    return std::isdigit(c);
  })) << output;
}

TEST(cli, help_mentions_the_subcommands) {
  auto [code, output] = hearth_process::run({}, {"--help"});
  EXPECT_EQ(code, 0) << output;
  EXPECT_NE(output.find("serve"), std::string::npos) << output;
  EXPECT_NE(output.find("migrate"), std::string::npos) << output;
}

// `hearth serve --help` lists every configuration flag with its type and
// default; a mistyped flag names the closest one.
TEST(cli, serve_help_lists_the_flags_with_types_and_defaults) {
  auto [code, output] = hearth_process::run({}, {"serve", "--help"});
  EXPECT_EQ(code, 0) << output;
  for (const char* expected : {"--http-addr TEXT=127.0.0.1:3000", "--db-pool-size INT=8",
                               "--uptime-status-public BOOL=true", "--database-url TEXT=\"\""})
    EXPECT_NE(output.find(expected), std::string::npos) << expected << " missing:\n" << output;
  auto [bad_code, bad] = hearth_process::run({}, {"serve", "--htp-addr", "127.0.0.1:0"});
  EXPECT_NE(bad_code, 0) << bad;
  EXPECT_NE(bad.find("did you mean --http-addr?"), std::string::npos) << bad;
}

TEST(cli, unknown_key_in_config_file_fails_naming_it) {
  char templ[] = "/tmp/hcfgXXXXXX";
  ASSERT_NE(::mkdtemp(templ), nullptr);
  const std::filesystem::path dir = templ;
  const auto file = dir / "hearth.json";
  {
    std::ofstream out(file);
    out << R"({"httpAddr": "127.0.0.1:0", "bogusSetting": 42})";
  }
  auto [code, output] =
      hearth_process::run({{"HEARTH_DATABASE_URL", "postgresql:///nonexistent?host=/nonexistent"}},
                          {"serve", "--config", file.string()});
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  EXPECT_NE(code, 0) << output;
  EXPECT_NE(output.find("bogusSetting"), std::string::npos) << output;
}

TEST(cli, unknown_environment_variable_fails_naming_it) {
  auto [code, output] =
      hearth_process::run({{"HEARTH_BOGUS", "1"},
                           {"HEARTH_DATABASE_URL", "postgresql:///nonexistent?host=/nonexistent"}},
                          {"serve"});
  EXPECT_NE(code, 0) << output;
  EXPECT_NE(output.find("HEARTH_BOGUS"), std::string::npos) << output;
}

TEST(cli, migrate_is_idempotent) {
  const auto url = throwaway_postgres::shared().create_database();
  auto [code1, output1] = hearth_process::run({{"HEARTH_DATABASE_URL", url}}, {"migrate"});
  EXPECT_EQ(code1, 0) << output1;
  auto [code2, output2] = hearth_process::run({{"HEARTH_DATABASE_URL", url}}, {"migrate"});
  EXPECT_EQ(code2, 0) << output2;
  // And the migrated database serves.
  hearth_process server({{"HEARTH_DATABASE_URL", url}});
  http_client http(server.port());
  EXPECT_EQ(http.request("GET", "/api/v1/health").status, 200u);
}

}  // namespace
}  // namespace hearth::testing
