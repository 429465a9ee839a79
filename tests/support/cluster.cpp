// A cluster of real hearth processes on one database, and a threaded SSE
// recorder. See cluster.hpp.

#include "tests/support/cluster.hpp"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <fstream>
#include <pqxx/pqxx>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include "tests/support/throwaway_postgres.hpp"

namespace hearth::testing {

namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string tail_of(const std::string& text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  return "…" + text.substr(text.size() - max_bytes);
}

// The process state letter of /proc/<pid>/stat ('T' when stopped), or 0.
char process_state(pid_t pid) {
  std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
  auto paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return 0;
  return stat[paren + 2];
}

std::string string_or_empty(const json::object& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) return "";
  return std::string(it->value().as_string());
}

}  // namespace

std::string cluster_view::link_to(const std::string& peer) const {
  for (const auto& p : peers)
    if (p.node_id == peer) return p.link;
  return "";
}

std::string cluster_view::security_to(const std::string& peer) const {
  for (const auto& p : peers)
    if (p.node_id == peer) return p.security;
  return "";
}

// ---------------------------------------------------------------- test_cluster

test_cluster::test_cluster(cluster_options options) : options_(std::move(options)) {
  database_url_ = options_.database_url.empty() ? throwaway_postgres::shared().create_database()
                                                : options_.database_url;
  char templ[] = "/tmp/hclXXXXXX";
  if (::mkdtemp(templ) == nullptr)
    throw std::system_error(errno, std::generic_category(), "mkdtemp for the test cluster");
  dir_ = templ;
  try {
    for (int i = 0; i < options_.nodes; ++i) {
      auto n = std::make_unique<node>();
      n->name = std::string("node-") + static_cast<char>('a' + i);
      n->ready_file = dir_ / (n->name + ".ready.json");
      names_.push_back(n->name);
      nodes_.push_back(std::move(n));
    }
    if (options_.tls) {
      auto ca = options_.tls_ca ? *options_.tls_ca : make_ca(dir_ / "pki", "cluster-ca");
      tls_ca_ = ca.cert;
      for (const auto& name : names_) make_node_certificate(dir_ / "pki", ca, name);
    }
    // One after the other: hearth_process edits this process's environment
    // while it spawns, so starts must not overlap.
    for (auto& n : nodes_) start(*n);
  } catch (...) {
    nodes_.clear();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    throw;
  }
}

test_cluster::~test_cluster() {
  for (auto& n : nodes_) {
    if (n->process && n->process->pid() > 0 && n->frozen) ::kill(n->process->pid(), SIGCONT);
  }
  nodes_.clear();  // hearth_process SIGKILLs what still runs
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

test_cluster::node& test_cluster::at(const std::string& name) {
  for (auto& n : nodes_)
    if (n->name == name) return *n;
  throw std::invalid_argument("test_cluster: no node named " + name);
}

const test_cluster::node& test_cluster::at(const std::string& name) const {
  for (const auto& n : nodes_)
    if (n->name == name) return *n;
  throw std::invalid_argument("test_cluster: no node named " + name);
}

std::map<std::string, std::string> test_cluster::env_for(const node& n) const {
  std::map<std::string, std::string> env{
      {"HEARTH_DATABASE_URL", database_url_},
      {"HEARTH_NODE_ID", n.name},
      {"HEARTH_HTTP_ADDR", "127.0.0.1:0"},
      {"HEARTH_CLUSTER_ADDR", "127.0.0.1:0"},
      {"HEARTH_CLUSTER_HEARTBEAT_MS", std::to_string(options_.heartbeat_ms)},
      {"HEARTH_CLUSTER_STALE_MS", std::to_string(options_.stale_ms)},
      {"HEARTH_SESSION_EXPIRY_SCHEDULE", options_.session_expiry_schedule},
      {"HEARTH_LOG_LEVEL", options_.log_level},
      {"HEARTH_READY_FILE", n.ready_file.string()},
  };
  if (options_.tls) {
    const auto pki = dir_ / "pki";
    env["HEARTH_CLUSTER_TLS_CERT"] = (pki / (n.name + ".pem")).string();
    env["HEARTH_CLUSTER_TLS_KEY"] = (pki / (n.name + ".key")).string();
    env["HEARTH_CLUSTER_TLS_CA"] = tls_ca_.string();
  }
  for (const auto& [k, v] : options_.extra_env) env[k] = v;
  if (auto it = options_.node_env.find(n.name); it != options_.node_env.end())
    for (const auto& [k, v] : it->second) env[k] = v;
  return env;
}

void test_cluster::start(node& n) {
  // hearth_process waits for the ready file to exist: remove the previous
  // run's, or it would read the old ports at once.
  std::error_code ec;
  std::filesystem::remove(n.ready_file, ec);
  n.frozen = false;
  n.stopping = false;
  n.cluster_port = 0;
  n.process = std::make_unique<hearth_process>(env_for(n));
  try {
    auto ready = json::parse(read_text(n.ready_file)).as_object();
    if (auto it = ready.find("clusterPort"); it != ready.end() && it->value().is_number())
      n.cluster_port = it->value().to_number<std::uint16_t>();
  } catch (const std::exception&) {
    // No or bad clusterPort: cluster_port() stays 0 and the tests say so.
  }
}

void test_cluster::retire(node& n) {
  if (!n.process) return;
  std::lock_guard lock(logs_mutex_);
  n.earlier_logs += "==== earlier run of " + n.name + " (pid " + std::to_string(n.process->pid()) +
                    " when retired) ====\n" + n.process->log() + "\n";
  n.process.reset();
}

bool test_cluster::running(const std::string& name) const {
  const auto& n = at(name);
  return n.process && !n.stopping && n.process->pid() > 0;
}

bool test_cluster::frozen(const std::string& name) const {
  return running(name) && at(name).frozen;
}

bool test_cluster::live(const std::string& name) const { return running(name) && !at(name).frozen; }

std::vector<std::string> test_cluster::live_nodes() const {
  std::vector<std::string> out;
  for (const auto& name : names_)
    if (live(name)) out.push_back(name);
  return out;
}

std::uint16_t test_cluster::http_port(const std::string& name) const {
  const auto& n = at(name);
  if (!n.process) throw std::logic_error("test_cluster: " + name + " never started");
  return n.process->port();
}

std::uint16_t test_cluster::cluster_port(const std::string& name) const {
  return at(name).cluster_port;
}

pid_t test_cluster::pid(const std::string& name) const {
  const auto& n = at(name);
  return n.process ? n.process->pid() : -1;
}

void test_cluster::kill(const std::string& name) {
  if (!running(name)) throw std::logic_error("test_cluster::kill: " + name + " is not running");
  auto& n = at(name);
  n.process->stop(SIGKILL, 10s);
  n.frozen = false;
}

void test_cluster::freeze(const std::string& name) {
  if (!live(name)) throw std::logic_error("test_cluster::freeze: " + name + " is not live");
  auto& n = at(name);
  const pid_t p = n.process->pid();
  if (::kill(p, SIGSTOP) != 0)
    throw std::system_error(errno, std::generic_category(), "SIGSTOP " + name);
  n.frozen = true;
  // The signal is asynchronous: wait until the kernel reports it stopped, so
  // timings measured from here start when the node really froze.
  const auto deadline = clock::now() + 2s;
  while (process_state(p) != 'T' && clock::now() < deadline) std::this_thread::sleep_for(1ms);
}

void test_cluster::thaw(const std::string& name) {
  if (!frozen(name)) throw std::logic_error("test_cluster::thaw: " + name + " is not frozen");
  auto& n = at(name);
  if (::kill(n.process->pid(), SIGCONT) != 0)
    throw std::system_error(errno, std::generic_category(), "SIGCONT " + name);
  n.frozen = false;
}

int test_cluster::terminate(const std::string& name, std::chrono::milliseconds timeout) {
  return terminate_async(name, timeout).get();
}

std::future<int> test_cluster::terminate_async(const std::string& name,
                                               std::chrono::milliseconds timeout) {
  if (!running(name))
    throw std::logic_error("test_cluster::terminate: " + name + " is not running");
  auto& n = at(name);
  if (n.frozen) {
    ::kill(n.process->pid(), SIGCONT);
    n.frozen = false;
  }
  n.stopping = true;
  hearth_process* p = n.process.get();
  return std::async(std::launch::async, [p, timeout] { return p->stop(SIGTERM, timeout); });
}

void test_cluster::restart(const std::string& name) {
  auto& n = at(name);
  if (n.process && n.process->pid() > 0 && !n.stopping)
    throw std::logic_error("test_cluster::restart: " + name + " still runs");
  retire(n);
  start(n);
}

cluster_view test_cluster::health(const std::string& name) const {
  http_client http(http_port(name));
  auto res = http.request("GET", "/api/v1/health");
  cluster_view view;
  view.raw = res.body;
  try {
    if (res.status != 200) throw std::runtime_error("status " + std::to_string(res.status));
    auto v = res.json();
    const auto& data = v.as_object().at("dataValue").as_array().at(0).as_object();
    view.node_id = string_or_empty(data, "nodeID");
    if (auto it = data.find("queuedJobs"); it != data.end() && it->value().is_number())
      view.queued_jobs = it->value().to_number<std::int64_t>();
    const auto& c = data.at("cluster").as_object();
    view.leading = c.at("leading").as_bool();
    view.leader_id = string_or_empty(c, "leaderID");
    view.term = c.at("term").to_number<std::int64_t>();
    view.cluster_addr = string_or_empty(c, "clusterAddr");
    view.transport = string_or_empty(c, "transport");
    for (const auto& p : c.at("peers").as_array()) {
      const auto& po = p.as_object();
      view.peers.push_back({string_or_empty(po, "nodeID"), string_or_empty(po, "addr"),
                            string_or_empty(po, "link"), string_or_empty(po, "security")});
    }
  } catch (const std::exception& e) {
    throw std::runtime_error("health of " + name + " is not as expected (" + e.what() +
                             "): " + res.body.substr(0, 800));
  }
  return view;
}

std::optional<cluster_view> test_cluster::try_health(const std::string& name) const {
  try {
    return health(name);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

bool test_cluster::wait_linked(std::chrono::milliseconds timeout) {
  const auto deadline = clock::now() + timeout;
  for (;;) {
    const auto live = live_nodes();
    bool ok = true;
    for (const auto& name : live) {
      auto h = try_health(name);
      if (!h) {
        ok = false;
        break;
      }
      for (const auto& other : live) {
        if (other != name && h->link_to(other) != "up") ok = false;
      }
      if (!ok) break;
    }
    if (ok) return true;
    if (clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

std::optional<leader_info> test_cluster::wait_leader(std::chrono::milliseconds timeout,
                                                     std::int64_t min_term,
                                                     const std::string& not_name,
                                                     clock::time_point since) {
  const auto deadline = clock::now() + timeout;
  for (;;) {
    std::vector<std::pair<std::string, std::int64_t>> leading;
    for (const auto& name : live_nodes()) {
      auto h = try_health(name);
      if (h && h->leading) leading.emplace_back(name, h->term);
    }
    const auto now = clock::now();
    if (leading.size() == 1 && leading[0].second >= min_term && leading[0].first != not_name) {
      return leader_info{leading[0].first, leading[0].second,
                         std::chrono::duration_cast<std::chrono::milliseconds>(now - since)};
    }
    if (now >= deadline) return std::nullopt;
    std::this_thread::sleep_for(10ms);
  }
}

bool test_cluster::wait_health(const std::string& name, std::chrono::milliseconds timeout,
                               const std::function<bool(const cluster_view&)>& pred) {
  const auto deadline = clock::now() + timeout;
  for (;;) {
    if (auto h = try_health(name); h && pred(*h)) return true;
    if (clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

std::string test_cluster::describe() const {
  std::ostringstream out;
  for (const auto& name : names_) {
    out << name << ": ";
    if (!running(name)) {
      out << "not running\n";
      continue;
    }
    out << "pid " << pid(name) << " http " << http_port(name) << " cluster " << cluster_port(name);
    if (frozen(name)) {
      out << " (frozen)\n";
      continue;
    }
    try {
      out << " health " << health(name).raw << "\n";
    } catch (const std::exception& e) {
      out << " health failed: " << e.what() << "\n";
    }
  }
  return out.str();
}

std::string test_cluster::log_tails(std::size_t tail_bytes) const {
  std::lock_guard lock(logs_mutex_);
  std::ostringstream out;
  for (const auto& n : nodes_) {
    std::string text = n->earlier_logs;
    if (n->process) text += n->process->log();
    out << "---- log tail of " << n->name << " ----\n" << tail_of(text, tail_bytes) << "\n";
  }
  out << "---- end of logs ----\n";
  return out.str();
}

std::string test_cluster::log(const std::string& name) const {
  std::lock_guard lock(logs_mutex_);
  const auto& n = at(name);
  return n.process ? n.process->log() : "";
}

bool test_cluster::wait_log(const std::string& name, const std::string& needle,
                            std::chrono::milliseconds timeout) const {
  const auto deadline = clock::now() + timeout;
  for (;;) {
    if (log(name).find(needle) != std::string::npos) return true;
    if (clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

std::pair<int, std::string> test_cluster::run_cli(const std::vector<std::string>& args) const {
  return hearth_process::run({{"HEARTH_DATABASE_URL", database_url_}}, args);
}

std::string test_cluster::database_activity() const {
  std::ostringstream out;
  try {
    pqxx::connection conn(database_url_);
    pqxx::nontransaction tx(conn);
    out << "pid | application | state | wait | xact age ms | blocked by | query\n";
    for (const auto& row :
         tx.exec("SELECT pid, application_name, coalesce(state, ''), "
                 "coalesce(wait_event_type || ':' || wait_event, ''), "
                 "coalesce((extract(epoch FROM now() - xact_start) * 1000)::bigint::text, ''), "
                 "pg_blocking_pids(pid)::text, left(query, 160) "
                 "FROM pg_stat_activity WHERE datname = current_database() "
                 "AND pid <> pg_backend_pid() ORDER BY pid")) {
      for (int i = 0; i < 7; ++i) out << (i ? " | " : "") << row[i].c_str();
      out << "\n";
    }
    out << "cluster_node:";
    for (const auto& row : tx.exec("SELECT node_id, db_pid, (extract(epoch FROM now() - "
                                   "heartbeat_at) * 1000)::bigint FROM cluster_node "
                                   "ORDER BY node_id"))
      out << " " << row[0].c_str() << " (pid " << row[1].c_str() << ", heartbeat " << row[2].c_str()
          << " ms ago)";
    auto leader = tx.exec1("SELECT term, node_id FROM cluster_leader WHERE id = 1");
    out << "\ncluster_leader: term " << leader[0].c_str() << " " << leader[1].c_str() << "\n";
  } catch (const std::exception& e) {
    out << "database activity unavailable: " << e.what() << "\n";
  }
  return out.str();
}

std::vector<scheduler_run_row> test_cluster::scheduler_runs() const {
  pqxx::connection conn(database_url_);
  pqxx::nontransaction tx(conn);
  std::vector<scheduler_run_row> out;
  for (const auto& row : tx.exec(
           "SELECT task, tick, term, node_id, outcome FROM scheduler_run ORDER BY task, tick")) {
    scheduler_run_row r;
    r.task = row[0].as<std::string>();
    r.tick = row[1].as<std::int64_t>();
    r.term = row[2].as<std::int64_t>();
    r.node_id = row[3].as<std::string>();
    r.outcome = row[4].is_null() ? "" : row[4].as<std::string>();
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<cluster_node_row> test_cluster::cluster_nodes() const {
  pqxx::connection conn(database_url_);
  pqxx::nontransaction tx(conn);
  std::vector<cluster_node_row> out;
  for (const auto& row :
       tx.exec("SELECT node_id, cluster_addr, http_addr, db_pid, links::text FROM cluster_node "
               "ORDER BY node_id")) {
    cluster_node_row r;
    r.node_id = row[0].as<std::string>();
    r.cluster_addr = row[1].as<std::string>();
    r.http_addr = row[2].as<std::string>();
    r.db_pid = row[3].as<int>();
    r.links = row[4].is_null() ? "" : row[4].as<std::string>();
    out.push_back(std::move(r));
  }
  return out;
}

cluster_leader_row test_cluster::cluster_leader() const {
  pqxx::connection conn(database_url_);
  pqxx::nontransaction tx(conn);
  auto row = tx.exec1("SELECT term, node_id FROM cluster_leader WHERE id = 1");
  return {row[0].as<std::int64_t>(), row[1].as<std::string>()};
}

// ---------------------------------------------------------------- sse_recorder

sse_recorder::sse_recorder(std::uint16_t port, const std::string& key,
                           std::map<std::string, std::string> headers) {
  headers["Authorization"] = "Bearer " + key;
  client_ = std::make_unique<sse_client>(port, headers);
  thread_ = std::thread([this] { run(); });
}

sse_recorder::~sse_recorder() { close(); }

void sse_recorder::close() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  client_.reset();
}

void sse_recorder::run() {
  try {
    while (!stop_) {
      auto ev = client_->next(50ms);
      if (!ev) {
        if (client_->closed()) break;
        continue;
      }
      record r;
      r.at = clock::now();
      if (ev->event == "change") {
        try {
          auto data = json::parse(ev->data).as_object();
          r.seq = data.at("seq").to_number<std::int64_t>();
          r.household = string_or_empty(data, "authHouseholdID");
          r.row_id = string_or_empty(data, "id");
        } catch (const std::exception&) {
          r.seq = -2;  // a change event without a readable seq: tests see it as wrong
        }
      }
      r.event = std::move(*ev);
      {
        std::lock_guard lock(mutex_);
        if (r.event.event == "change") ++changes_;
        events_.push_back(std::move(r));
      }
      cv_.notify_all();
    }
  } catch (const std::exception& e) {
    std::lock_guard lock(mutex_);
    error_ = e.what();
  }
  {
    std::lock_guard lock(mutex_);
    closed_ = !stop_;
  }
  cv_.notify_all();
}

std::vector<sse_recorder::record> sse_recorder::events() const {
  std::lock_guard lock(mutex_);
  return events_;
}

std::vector<sse_recorder::record> sse_recorder::changes() const {
  std::lock_guard lock(mutex_);
  std::vector<record> out;
  for (const auto& r : events_)
    if (r.event.event == "change") out.push_back(r);
  return out;
}

std::size_t sse_recorder::change_count() const {
  std::lock_guard lock(mutex_);
  return changes_;
}

bool sse_recorder::wait_changes(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, timeout, [&] { return changes_ >= n || closed_; });
  return changes_ >= n;
}

std::optional<sse_recorder::clock::time_point> sse_recorder::wait_seq(
    std::int64_t seq, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  std::size_t scanned = 0;
  std::optional<clock::time_point> found;
  cv_.wait_for(lock, timeout, [&] {
    for (; scanned < events_.size(); ++scanned) {
      if (events_[scanned].seq == seq) {
        found = events_[scanned].at;
        return true;
      }
    }
    return closed_.load();
  });
  return found;
}

std::string sse_recorder::error() const {
  std::lock_guard lock(mutex_);
  return error_;
}

std::string sse_recorder::last_change_id() const {
  std::lock_guard lock(mutex_);
  for (auto it = events_.rbegin(); it != events_.rend(); ++it)
    if (it->event.event == "change") return it->event.id;
  return "";
}

}  // namespace hearth::testing
