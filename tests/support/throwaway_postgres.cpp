// One throwaway PostgreSQL cluster per test binary, on top of the embedded
// cluster hearth itself uses (storage/embedded_postgres.hpp), or databases in
// an external server named by HEARTH_TEST_DATABASE_URL.

#include "tests/support/throwaway_postgres.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>
#include <stdexcept>
#include <string>
#include <system_error>

#include "storage/embedded_postgres.hpp"

namespace hearth::testing {

namespace {

// Replaces (or adds) the database name of a libpq connection string, either a
// URI (postgresql://user@host:port/dbname?params) or key=value pairs.
std::string with_database(const std::string& url, const std::string& name) {
  for (const std::string scheme : {"postgresql://", "postgres://"}) {
    if (url.rfind(scheme, 0) != 0) continue;
    auto authority_end = url.find_first_of("/?", scheme.size());
    if (authority_end == std::string::npos) return url + "/" + name;
    if (url[authority_end] == '?') {
      return url.substr(0, authority_end) + "/" + name + url.substr(authority_end);
    }
    auto path_end = url.find('?', authority_end);
    std::string rest = path_end == std::string::npos ? "" : url.substr(path_end);
    return url.substr(0, authority_end) + "/" + name + rest;
  }
  // key=value form: replace an existing dbname=... or append one.
  auto pos = url.find("dbname=");
  while (pos != std::string::npos && pos > 0 && url[pos - 1] != ' ') {
    pos = url.find("dbname=", pos + 1);
  }
  if (pos == std::string::npos) return url + (url.empty() ? "" : " ") + "dbname=" + name;
  auto end = url.find(' ', pos);
  return url.substr(0, pos) + "dbname=" + name + (end == std::string::npos ? "" : url.substr(end));
}

// The embedded cluster lives in a function-local static pointer; an atexit
// handler stops it and removes its directory when the test binary exits.
struct embedded_cluster {
  std::filesystem::path dir;
  std::filesystem::path socket_dir;  // from url(); embedded_postgres leaves it behind
  std::unique_ptr<storage::embedded_postgres> pg;
};

// The unix socket directory named in a libpq URI's `host=` parameter.
std::filesystem::path socket_dir_of(const std::string& url) {
  auto pos = url.find("host=");
  if (pos == std::string::npos) return {};
  auto end = url.find('&', pos);
  std::string encoded =
      url.substr(pos + 5, end == std::string::npos ? std::string::npos : end - pos - 5);
  std::string decoded;
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    if (encoded[i] == '%' && i + 2 < encoded.size()) {
      decoded += static_cast<char>(std::stoi(encoded.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      decoded += encoded[i];
    }
  }
  if (decoded.empty() || decoded[0] != '/') return {};
  return decoded;
}
embedded_cluster* g_cluster = nullptr;

void stop_cluster_at_exit() {
  if (g_cluster == nullptr) return;
  if (g_cluster->pg) g_cluster->pg->stop();
  std::error_code ec;
  std::filesystem::remove_all(g_cluster->dir, ec);
  // Only when empty (the server removed its socket): never another cluster's.
  if (!g_cluster->socket_dir.empty()) std::filesystem::remove(g_cluster->socket_dir, ec);
  delete g_cluster;
  g_cluster = nullptr;
}

}  // namespace

const std::string& external_test_database_url() {
  static const std::string url = [] {
    const char* v = std::getenv("HEARTH_TEST_DATABASE_URL");
    return std::string(v == nullptr ? "" : v);
  }();
  return url;
}

struct throwaway_postgres::impl {
  std::mutex mutex;
  std::string external_url;  // HEARTH_TEST_DATABASE_URL, "" = embedded
  std::atomic<int> counter{0};
};

throwaway_postgres::throwaway_postgres() : impl_(new impl) {
  if (!external_test_database_url().empty()) {
    impl_->external_url = external_test_database_url();
    return;
  }
  char templ[] = "/tmp/htpgXXXXXX";
  if (::mkdtemp(templ) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "mkdtemp for throwaway postgres");
  }
  // mkdtemp makes it 0700: as root, the `postgres` user must be able to
  // traverse it, or embedded_postgres moves PGDATA to /var/lib/hearth/clusters
  // (outside this directory, so it would outlive the test run).
  std::filesystem::permissions(
      templ, std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                 std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                 std::filesystem::perms::others_exec);
  auto* cluster = new embedded_cluster;
  cluster->dir = templ;
  storage::embedded_postgres_options options;
  options.data_dir = cluster->dir;
  options.database = "postgres";
  options.throwaway = true;
  cluster->pg = std::make_unique<storage::embedded_postgres>(options);
  g_cluster = cluster;
  std::atexit(stop_cluster_at_exit);
  cluster->socket_dir = socket_dir_of(cluster->pg->url());
  cluster->pg->start();  // throws with PostgreSQL's log on failure; atexit cleans up
}

throwaway_postgres& throwaway_postgres::shared() {
  static throwaway_postgres instance;
  return instance;
}

std::string throwaway_postgres::create_database() {
  std::lock_guard lock(impl_->mutex);
  std::string name = "t_" + std::to_string(::getpid()) + "_" + std::to_string(impl_->counter++);
  if (!impl_->external_url.empty()) {
    pqxx::connection conn(impl_->external_url);
    pqxx::nontransaction tx(conn);
    tx.exec("CREATE DATABASE " + tx.quote_name(name));
    return with_database(impl_->external_url, name);
  }
  g_cluster->pg->create_database(name);
  return g_cluster->pg->url(name);
}

}  // namespace hearth::testing
