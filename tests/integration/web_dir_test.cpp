// webDir (HEARTH_WEB_DIR): the web page served from a directory instead of
// the files built into the binary, with the same headers; an edited file is
// served at once; paths that leave the directory (.., encoded .., symbolic
// links out of it, hidden files) are 404; API routes answer as without it.

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/integration/fixture.hpp"

namespace hearth::testing {
namespace {

namespace fs = std::filesystem;

void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + p.native());
}

class web_dir : public hearth_test {
 protected:
  std::map<std::string, std::string> extra_env() override {
    static std::atomic<int> counter{0};
    base_ = fs::temp_directory_path() /
            ("hearth-webdir-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(base_);
    root_ = base_ / "ui";
    write_file(root_ / "index.html", "<!doctype html><title>dev page v1</title>");
    write_file(root_ / "app.js", "console.log('dev');");
    write_file(root_ / "assets" / "style.css", "body{color:red}");
    write_file(root_ / ".env", "SECRET=1");
    write_file(base_ / "outside.txt", "not for the web");
    fs::create_symlink(base_ / "outside.txt", root_ / "escape.txt");
    fs::create_directory_symlink(base_, root_ / "up");
    fs::create_symlink(root_ / "app.js", root_ / "alias.js");  // stays inside: served
    return {{"HEARTH_WEB_DIR", root_.native()}};
  }

  void TearDown() override {
    hearth_test::TearDown();
    std::error_code ec;
    fs::remove_all(base_, ec);
  }

  fs::path base_, root_;
};

TEST_F(web_dir, serves_the_directory_with_the_embedded_files_headers) {
  auto page = http().request("GET", "/");
  ASSERT_EQ(page.status, 200u) << page.body;
  EXPECT_EQ(page.body, "<!doctype html><title>dev page v1</title>");
  EXPECT_EQ(page.header("content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(http().request("GET", "/index.html").body, page.body);
  auto js = http().request("GET", "/app.js");
  ASSERT_EQ(js.status, 200u);
  EXPECT_EQ(js.header("content-type"), "text/javascript; charset=utf-8");
  auto css = http().request("GET", "/assets/style.css", "", {{"Accept", "text/css,*/*;q=0.1"}});
  ASSERT_EQ(css.status, 200u);
  EXPECT_EQ(css.body, "body{color:red}");
  EXPECT_EQ(css.header("content-type"), "text/css; charset=utf-8");
  EXPECT_EQ(http().request("GET", "/alias.js").body, js.body);
  EXPECT_EQ(http().request("GET", "/app.js", "", {{"Accept", "application/json"}}).status, 406u);

  // The same headers as the files built into the binary: a second node
  // without webDir on the same database serves those.
  hearth_process embedded({{"HEARTH_DATABASE_URL", database_url_}});
  http_client plain(embedded.port());
  auto built_in = plain.request("GET", "/");
  ASSERT_EQ(built_in.status, 200u);
  EXPECT_NE(built_in.body, page.body);
  for (const char* h : {"cache-control", "x-content-type-options", "content-security-policy",
                        "referrer-policy", "x-frame-options", "content-type"})
    EXPECT_EQ(page.header(h), built_in.header(h)) << h;
  EXPECT_FALSE(page.header("etag").empty());
  EXPECT_EQ(page.header("etag").size(), built_in.header("etag").size());

  // Conditional GET, then an edit is served at once with a new ETag.
  auto etag = page.header("etag");
  auto same = http().request("GET", "/", "", {{"If-None-Match", etag}});
  EXPECT_EQ(same.status, 304u);
  EXPECT_TRUE(same.body.empty());
  EXPECT_EQ(same.header("etag"), etag);
  write_file(root_ / "index.html", "<!doctype html><title>dev page v2</title>");
  auto edited = http().request("GET", "/", "", {{"If-None-Match", etag}});
  ASSERT_EQ(edited.status, 200u);
  EXPECT_EQ(edited.body, "<!doctype html><title>dev page v2</title>");
  EXPECT_NE(edited.header("etag"), etag);
}

TEST_F(web_dir, paths_out_of_the_directory_are_not_found) {
  for (const char* target : {"/../outside.txt", "/%2e%2e/outside.txt", "/assets/../../outside.txt",
                             "/assets/%2E%2E/%2e%2e/outside.txt", "/escape.txt", "/up/outside.txt",
                             "/.env", "/assets/./style.css", "/assets", "/assets/", "/missing.js",
                             "/app.js%00", "/assets//style.css"}) {
    auto res = http().request("GET", target);
    EXPECT_TRUE(res.status == 404u || res.status == 400u) << target << " → " << res.status;
    EXPECT_EQ(res.body.find("not for the web"), std::string::npos) << target;
    EXPECT_EQ(res.body.find("SECRET"), std::string::npos) << target;
  }
  auto missing = http().request("GET", "/missing.js");
  check_envelope(missing, 404);
  EXPECT_EQ(message_of(missing), "no route for /missing.js");
}

TEST_F(web_dir, leaves_the_api_as_it_is) {
  EXPECT_EQ(http().request("GET", "/api/v1/health").status, 200u);
  EXPECT_EQ(http().request("GET", "/api/docs").status, 200u);
  // Unknown API paths and methods answer as without webDir.
  auto unknown = http().request("GET", "/api/v1/nothing");
  check_envelope(unknown, 404);
  EXPECT_EQ(message_of(unknown), "no route for /api/v1/nothing");
  check_envelope(http().request("POST", "/app.js", "{}"), 404);
  auto wrong_method = http().request("DELETE", "/api/v1/shop/items");
  check_envelope(wrong_method, 405);
  EXPECT_FALSE(wrong_method.header("allow").empty());
}

TEST(web_dir_config, a_missing_directory_stops_start_up) {
  auto [code, out] =
      hearth_process::run({{"HEARTH_WEB_DIR", "/nonexistent/hearth-web-dir"}}, {"serve"});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("webDir: /nonexistent/hearth-web-dir is not a directory"), std::string::npos)
      << out;
}

}  // namespace
}  // namespace hearth::testing
