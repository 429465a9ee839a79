// The web page (web/): GET / is index.html, GET /<file> each embedded file.
// Served from the binary (cmake/embed_web.cmake) with no external fetch; the
// page talks to the API of the same origin only, which the
// Content-Security-Policy enforces. Conditional GETs: ETag (a hash of the
// bytes) and If-None-Match → 304; Cache-Control: no-cache makes browsers
// revalidate, so a new binary's page is picked up at once.
//
// With webDir set (UI development, as Homechart serves its UI from a local
// directory), GET / and GET /<path> read the files of that directory on each
// request instead, with the same headers: an edited file is served at once.

#include <sodium.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "api/api.hpp"
#include "api/web_assets.hpp"
#include "config/logging.hpp"
#include "http/envelope.hpp"
#include "http/negotiation.hpp"

namespace hearth::api {
namespace {

constexpr const char* kPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'";

std::string_view content_type_of(std::string_view path) {
  auto dot = path.rfind('.');
  auto ext = dot == std::string_view::npos ? std::string_view() : path.substr(dot);
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".json" || ext == ".map") return "application/json";
  if (ext == ".webmanifest") return "application/manifest+json";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  if (ext == ".jpg" || ext == ".jpeg") return "image/jpeg";
  if (ext == ".gif") return "image/gif";
  if (ext == ".webp") return "image/webp";
  if (ext == ".woff2") return "font/woff2";
  if (ext == ".woff") return "font/woff";
  if (ext == ".wasm") return "application/wasm";
  return "application/octet-stream";
}

// The media type without parameters, for the route's `produces` (Accept).
std::string media_type_of(std::string_view content_type) {
  return std::string(content_type.substr(0, content_type.find(';')));
}

// If-None-Match (RFC 9110 §13.1.2): "*" or a list of entity tags, compared
// weakly (a W/ prefix is ignored).
bool none_match(std::string_view header, std::string_view etag) {
  while (!header.empty()) {
    auto comma = header.find(',');
    auto item = header.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item == "*") return true;
    if (item.substr(0, 2) == "W/") item.remove_prefix(2);
    if (item == etag) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

// The headers of every web file, embedded or from webDir.
std::vector<std::pair<std::string, std::string>> web_headers(std::string etag) {
  return {
      {"ETag", std::move(etag)},
      {"Cache-Control", "no-cache"},
      {"X-Content-Type-Options", "nosniff"},
      {"Content-Security-Policy", kPolicy},
      {"Referrer-Policy", "no-referrer"},
      {"X-Frame-Options", "DENY"},
  };
}

http::handler serve(const web_asset& a) {
  return [&a](const http::request& req, http::responder respond) {
    http::response res;
    res.headers = web_headers(std::string(a.etag));
    if (none_match(req.header("if-none-match"), a.etag)) {
      res.status = 304;
      res.content_type.clear();
    } else {
      res.content_type = std::string(content_type_of(a.path));
      res.body = std::string(a.body);
    }
    respond(std::move(res));
  };
}

// Larger files are not served from webDir (a development directory holds
// pages, scripts and images, not archives).
constexpr std::uintmax_t kMaxWebFileBytes = 64u << 20;

// The file of `root` (canonical) that a request path names, or nullopt when
// it names none that may be served: every segment must be non-empty and not
// start with '.' (no "..", no hidden files such as .git or .env), and the
// path with symbolic links resolved must still lie inside `root`.
std::optional<std::filesystem::path> resolve_web_file(const std::filesystem::path& root,
                                                      std::string_view relative) {
  namespace fs = std::filesystem;
  if (relative.empty() || relative.find('\0') != std::string_view::npos) return std::nullopt;
  std::string_view rest = relative;
  while (true) {
    auto slash = rest.find('/');
    auto seg = rest.substr(0, slash);
    if (seg.empty() || seg.front() == '.') return std::nullopt;
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  std::error_code ec;
  auto file = fs::canonical(root / fs::path(std::string(relative)), ec);
  if (ec) return std::nullopt;
  // Inside root: root's components are a prefix of the file's.
  auto [r, f] = std::mismatch(root.begin(), root.end(), file.begin(), file.end());
  if (r != root.end() || f == file.end()) return std::nullopt;
  if (!fs::is_regular_file(file, ec) || fs::file_size(file, ec) > kMaxWebFileBytes || ec)
    return std::nullopt;
  return file;
}

// The ETag of a file's bytes: SHA-256, the first 32 hex digits, quoted (the
// same form cmake/embed_web.cmake gives the embedded files).
std::string file_etag(const std::string& bytes) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  char hex[2 * crypto_hash_sha256_BYTES + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return "\"" + std::string(hex, 32) + "\"";
}

// GET / and GET /<path> from webDir. The file is read on the I/O thread
// that took the request: a local file of a development directory, small and
// in the page cache, so the read is short (this is a development setting,
// not a production file server). A path that names no servable file is the
// engine's own 404 ("no route for /x"), so with webDir set unknown paths
// answer as without it.
http::handler serve_directory(std::shared_ptr<const std::filesystem::path> root) {
  return [root](const http::request& req, http::responder respond) {
    auto it = req.params.find("path");
    std::string relative = it == req.params.end() ? "index.html" : it->second;
    if (relative == "monitor") relative = "monitor.html";  // as GET /monitor when embedded
    auto file = resolve_web_file(*root, relative);
    std::string bytes;
    if (file) {
      std::ifstream in(*file, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      if (in.bad()) file.reset();
    }
    if (!file) return respond(http::error(404, req.request_id, "no route for " + req.path));
    auto content_type = content_type_of(file->filename().native());
    auto media_type = media_type_of(content_type);
    if (!http::accepts(req.header("accept"), media_type))
      return respond(
          http::error(406, req.request_id, "not acceptable: this file is " + media_type));
    auto etag = file_etag(bytes);
    http::response res;
    if (none_match(req.header("if-none-match"), etag)) {
      res.status = 304;
      res.content_type.clear();
    } else {
      res.content_type = std::string(content_type);
      res.body = std::move(bytes);
    }
    res.headers = web_headers(std::move(etag));
    respond(std::move(res));
  };
}

void add_directory_routes(http::route_group& r, const std::string& dir) {
  std::error_code ec;
  auto root = std::filesystem::canonical(dir, ec);
  if (ec || !std::filesystem::is_directory(root, ec))
    throw std::runtime_error("webDir: " + dir + " is not a directory" +
                             (ec ? " (" + ec.message() + ")" : ""));
  log::info("serving the web page from {} (webDir)", root.native());
  auto shared = std::make_shared<const std::filesystem::path>(std::move(root));
  r.add(
      {"GET",
       "/",
       serve_directory(shared),
       {.produces = "text/html",
        .doc = {.summary = "The web page (index.html of webDir)", .tag = "web", .auth = "none"}}});
  // Every other GET path that no API route takes: a file of webDir. Left
  // out of /api/docs (its paths are the directory's files).
  r.add({"GET",
         "/{path...}",
         serve_directory(shared),
         {.produces = "", .hidden = true, .doc = {.tag = "web", .auth = "none"}}});
}

}  // namespace

void add_web_routes(http::route_group& r, services& s) {
  if (!s.cfg.web_dir.empty()) return add_directory_routes(r, s.cfg.web_dir);
  for (const auto& a : embedded_web_assets()) {
    auto produces = media_type_of(content_type_of(a.path));
    if (a.path == "/index.html") {
      r.add({"GET",
             "/",
             serve(a),
             {.produces = produces,
              .doc = {.summary = "The web page (shopping list and tasks, live)",
                      .tag = "web",
                      .auth = "none"}}});
    }
    if (a.path == "/monitor.html") {
      r.add({"GET",
             "/monitor",
             serve(a),
             {.produces = produces,
              .doc = {.summary = "The uptime monitor's status page (live)",
                      .tag = "web",
                      .auth = "none"}}});
    }
    r.add({"GET",
           std::string(a.path),
           serve(a),
           {.produces = produces,
            .doc = {.summary = "The web page's file " + std::string(a.path.substr(1)),
                    .tag = "web",
                    .auth = "none"}}});
  }
}

}  // namespace hearth::api
