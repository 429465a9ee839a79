// The Debian package (cmake/package.cmake, deploy/debian): built with CPack
// from this build tree, it passes lintian without errors, holds what a
// packaged service needs (binary, systemd unit, conffile, web assets,
// maintainer scripts, copyright), and its binary, started with its own
// config (the data directory and address overridden, as the unit's
// environment does), serves the live flow: sign up, a household, a stream,
// a write that arrives on it.

#include <signal.h>

#include <fstream>
#include <sstream>

#include "storage/process.hpp"
#include "tests/integration/fixture.hpp"

#ifndef HEARTH_CPACK_CONFIG
#error "HEARTH_CPACK_CONFIG must name the build tree's CPackConfig.cmake"
#endif

namespace hearth::testing {
namespace {

namespace fs = std::filesystem;

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs argv with its output in `log`; returns the exit code.
int run(const std::vector<std::string>& argv, const fs::path& log) {
  storage::spawn_options o;
  o.log_file = log.string();
  return storage::run_process(argv, o, std::chrono::minutes(5));
}

TEST(debian_package, passes_lintian_and_its_binary_serves_the_live_flow) {
  temp_dir dir;
  const auto out = dir.path / "out";
  const auto log = dir.path / "tools.log";
  ASSERT_EQ(run({"cpack", "-G", "DEB", "--config", HEARTH_CPACK_CONFIG, "-B", out.string()}, log),
            0)
      << read(log);
  fs::path deb;
  for (const auto& e : fs::directory_iterator(out))
    if (e.path().extension() == ".deb") deb = e.path();
  ASSERT_FALSE(deb.empty()) << "cpack made no .deb:\n" << read(log);

  const auto lint = dir.path / "lintian.log";
  EXPECT_EQ(run({"lintian", "--fail-on", "error", deb.string()}, lint), 0) << read(lint);
  EXPECT_EQ(read(lint).find("\nE: "), std::string::npos) << read(lint);

  const auto info = dir.path / "info.log";
  ASSERT_EQ(run({"dpkg-deb", "--info", deb.string()}, info), 0) << read(info);
  const auto control = read(info);
  for (const char* expected :
       {"Package: hearth", "postgresql-15", "adduser", "conffiles", "postinst", "prerm", "postrm"})
    EXPECT_NE(control.find(expected), std::string::npos) << expected << ":\n" << control;

  const auto root = dir.path / "root";
  ASSERT_EQ(run({"dpkg-deb", "-x", deb.string(), root.string()}, log), 0) << read(log);
  for (const char* file :
       {"usr/bin/hearth", "usr/lib/systemd/system/hearth.service", "etc/hearth/hearth.json",
        "usr/share/hearth/web/index.html", "usr/share/doc/hearth/copyright",
        "usr/share/doc/hearth/changelog.Debian.gz"})
    EXPECT_TRUE(fs::exists(root / file)) << file;
  const auto unit = read(root / "usr/lib/systemd/system/hearth.service");
  for (const char* expected : {"Type=notify", "User=hearth", "StateDirectory=hearth",
                               "ExecStart=/usr/bin/hearth serve --config /etc/hearth/hearth.json"})
    EXPECT_NE(unit.find(expected), std::string::npos) << expected;

  // The packaged binary with the packaged config; the data directory and
  // the address as the service's environment would set them.
  const auto data = dir.path / "data";
  hearth_process server({{"HEARTH_DATA_DIR", data.string()}},
                        {"serve", "--config", (root / "etc/hearth/hearth.json").string()}, {},
                        root / "usr/bin/hearth");
  http_client http(server.port());
  const auto key = new_user_on(http, "packaged").key;
  const auto household = create_household_on(http, key, "Home");
  sse_client stream(server.port(), {{"Authorization", "Bearer " + key}});
  auto item = http.request_as(
      key, "POST", "/api/v1/shop/items",
      json::serialize(json::object{{"authHouseholdID", household}, {"name", "milk"}}));
  require_status(item, 201, "item");
  auto change = next_change(stream, 10s);
  ASSERT_TRUE(change) << "the write did not stream\n" << server.log();
  EXPECT_NE(change->data.find(str(first_value(item), "id")), std::string::npos) << change->data;
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
}

}  // namespace
}  // namespace hearth::testing
