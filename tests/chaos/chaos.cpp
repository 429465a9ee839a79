// The chaos soak (scripts/chaos [minutes]; CTest runs it for 1 minute).
//
// Three hearth nodes on one PostgreSQL (a private embedded cluster this
// program can restart), writers creating rows in many households through
// every node, and SSE subscribers on every node. Every few seconds a random
// fault is injected:
//   kill     kill -9 of a random node, restarted 0.5-2 s later
//   freeze   SIGSTOP of a random node, SIGCONT 1-4 s later
//   postgres PostgreSQL stopped in immediate mode (a crash), started again
//   leader   kill -9 of the leader, restarted 0.5-2 s later
// The kinds come in rounds (each once per round, in random order).
// At the end every node runs again and the checks are:
//   - every acknowledged (201) write is in the database;
//   - every subscriber got every event of its households exactly once and in
//     order (each household's seq goes up by one at a time, across resumes
//     with Last-Event-ID, and ends at the household's head), with no resync;
//   - the leader's term never went down, and each term had one leader;
//   - each cron tick ran once: none twice (scheduler_run's key), and none of
//     engine.expire-sessions (every 1 s) skipped, though the database was
//     down and leaders died.
// Exit code 0 when every check holds, 1 otherwise; one summary line of
// figures either way.

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "storage/embedded_postgres.hpp"
#include "storage/process.hpp"
#include "tests/support/cluster.hpp"
#include "tests/support/http_client.hpp"

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using hearth::testing::http_client;
using hearth::testing::http_response;
using hearth::testing::sse_client;

std::string str(const json::value& v, const char* key) {
  return std::string(v.as_object().at(key).as_string());
}

json::value first_value(const http_response& res) {
  return res.json().as_object().at("dataValue").as_array().at(0);
}

void require(const http_response& res, unsigned status, const std::string& what) {
  if (res.status != status) {
    throw std::runtime_error(what + ": status " + std::to_string(res.status) + ": " +
                             res.body.substr(0, 500));
  }
}

/// The ports of the nodes that are expected to answer (not killed, not
/// frozen). Only the fault thread changes it.
class live_ports {
 public:
  void set(const std::string& name, std::uint16_t port) {
    std::lock_guard lock(mutex_);
    ports_[name] = port;
  }
  void remove(const std::string& name) {
    std::lock_guard lock(mutex_);
    ports_.erase(name);
  }
  /// `preferred`'s port when live, else a random live one (0 when none).
  std::uint16_t pick(std::mt19937& rng, const std::string& preferred = "") {
    std::lock_guard lock(mutex_);
    if (ports_.empty()) return 0;
    if (auto it = ports_.find(preferred); it != ports_.end()) return it->second;
    auto it = ports_.begin();
    std::advance(it, std::uniform_int_distribution<std::size_t>(0, ports_.size() - 1)(rng));
    return it->second;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::uint16_t> ports_;
};

struct account {
  std::string key;
  std::vector<std::string> households;
};

/// One subscriber: a stream of one account's households, homed on one node,
/// resumed with Last-Event-ID on any live node when its stream ends.
struct subscriber {
  std::string home;
  const account* owner = nullptr;
  std::map<std::string, std::int64_t> last_seq;  // household → last delivered seq
  std::int64_t events = 0, gaps = 0, repeats = 0, resyncs = 0, reconnects = 0;
  std::string last_id;
  std::thread thread;
};

/// The private PostgreSQL: hearth's embedded cluster code, plus a crash
/// (pg_ctl stop -m immediate) for the `postgres` fault.
class database {
 public:
  database() {
    char templ[] = "/tmp/hchaosXXXXXX";
    if (::mkdtemp(templ) == nullptr) throw std::runtime_error("mkdtemp");
    dir_ = templ;
    ::chmod(dir_.c_str(), 0755);  // the postgres user must traverse it when we are root
    hearth::storage::embedded_postgres_options options;
    options.data_dir = dir_;
    options.database = "hearth";
    options.throwaway = false;  // durable commits: a 2xx must survive the PostgreSQL crash
    pg_ = std::make_unique<hearth::storage::embedded_postgres>(options);
    pg_->start();
  }
  ~database() {
    pg_->stop();
    pg_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string url() const { return pg_->url(); }

  void crash_and_restart(std::chrono::milliseconds down) {
    hearth::storage::spawn_options as_server;
    if (::geteuid() == 0) as_server.run_as = "postgres";
    as_server.work_dir = "/";
    as_server.log_file = (dir_ / "chaos-pg_ctl.log").string();
    hearth::storage::run_process({(bin_dir() / "pg_ctl").string(), "-D",
                                  (dir_ / "postgres").string(), "-m", "immediate", "-w", "stop"},
                                 as_server, 60s);
    std::this_thread::sleep_for(down);  // the length of the outage (fault timing)
    pg_->start();  // starts it again (crash recovery), waits until it accepts connections
  }

 private:
  static fs::path bin_dir() {
    fs::path best;
    int best_major = -1;
    for (const auto& e : fs::directory_iterator("/usr/lib/postgresql")) {
      int major = std::atoi(e.path().filename().c_str());
      if (major > best_major && fs::exists(e.path() / "bin" / "pg_ctl")) {
        best_major = major;
        best = e.path() / "bin";
      }
    }
    return best;
  }
  fs::path dir_;
  std::unique_ptr<hearth::storage::embedded_postgres> pg_;
};

struct run_options {
  double minutes = 1;
  unsigned seed = 0;
  int households = 24;
  int writers = 4;
};

int run(const run_options& opt) {
  std::mt19937 rng(opt.seed);
  database db;
  hearth::testing::cluster_options co;
  co.nodes = 3;
  co.database_url = db.url();
  co.log_level = "info";
  hearth::testing::test_cluster cluster(co);
  live_ports ports;
  for (const auto& n : cluster.names()) ports.set(n, cluster.http_port(n));
  if (!cluster.wait_linked(30s) || !cluster.wait_leader(30s)) {
    std::cerr << "chaos: the cluster did not form\n" << cluster.describe();
    return 1;
  }

  // Accounts, each owning some of the households.
  std::vector<account> accounts(3);
  {
    http_client http(cluster.http_port(cluster.names().front()));
    for (std::size_t a = 0; a < accounts.size(); ++a) {
      const std::string email =
          "chaos" + std::to_string(::getpid()) + "." + std::to_string(a) + "@example.com";
      const std::string password = "chaos soak password";
      require(
          http.request("POST", "/api/v1/auth/signup",
                       json::serialize(json::object{
                           {"emailAddress", email}, {"password", password}, {"name", "chaos"}})),
          201, "signup");
      auto res = http.request(
          "POST", "/api/v1/auth/signin",
          json::serialize(json::object{{"emailAddress", email}, {"password", password}}));
      require(res, 201, "signin");
      accounts[a].key = str(first_value(res), "key");
    }
    for (int h = 0; h < opt.households; ++h) {
      auto& owner = accounts[static_cast<std::size_t>(h) % accounts.size()];
      auto res =
          http.request_as(owner.key, "POST", "/api/v1/auth/households",
                          json::serialize(json::object{{"name", "chaos " + std::to_string(h)}}));
      require(res, 201, "household");
      owner.households.push_back(str(first_value(res), "id"));
    }
  }

  std::atomic<bool> stop_writing{false}, stop_reading{false}, stop_watching{false};

  // Subscribers: one per account per node.
  std::vector<std::unique_ptr<subscriber>> subscribers;
  std::mutex sub_mutex;  // guards every subscriber's figures
  for (const auto& node : cluster.names()) {
    for (const auto& acc : accounts) {
      auto s = std::make_unique<subscriber>();
      s->home = node;
      s->owner = &acc;
      subscribers.push_back(std::move(s));
    }
  }
  // Each household's head before any write: its next event is head + 1.
  {
    pqxx::connection conn{cluster.database_url()};
    pqxx::read_transaction tx{conn};
    for (const auto& row : tx.exec("SELECT id::text, event_seq FROM auth_household")) {
      for (auto& s : subscribers) {
        const auto& hs = s->owner->households;
        if (std::find(hs.begin(), hs.end(), row[0].c_str()) != hs.end())
          s->last_seq[row[0].as<std::string>()] = row[1].as<std::int64_t>();
      }
    }
  }
  // Opens each stream before any write, so each starts at its households' heads.
  std::vector<std::unique_ptr<sse_client>> first_streams;
  for (auto& s : subscribers) {
    first_streams.push_back(std::make_unique<sse_client>(
        cluster.http_port(s->home),
        std::map<std::string, std::string>{{"Authorization", "Bearer " + s->owner->key}}));
  }
  for (std::size_t i = 0; i < subscribers.size(); ++i) {
    auto* s = subscribers[i].get();
    s->thread = std::thread([&, s, stream = std::move(first_streams[i]), i]() mutable {
      std::mt19937 local(opt.seed + 1000 + static_cast<unsigned>(i));
      while (!stop_reading) {
        if (!stream || stream->closed()) {
          stream.reset();
          auto port = ports.pick(local, s->home);
          if (port == 0) {
            std::this_thread::sleep_for(100ms);  // no node answers: retry pacing
            continue;
          }
          std::map<std::string, std::string> headers{{"Authorization", "Bearer " + s->owner->key}};
          {
            std::lock_guard lock(sub_mutex);
            if (!s->last_id.empty()) headers["Last-Event-ID"] = s->last_id;
            ++s->reconnects;
          }
          try {
            stream = std::make_unique<sse_client>(port, headers);
          } catch (const std::exception&) {
            std::this_thread::sleep_for(100ms);  // refused (node starting or dying): pacing
          }
          continue;
        }
        auto ev = stream->next(300ms);
        if (!ev) continue;
        std::lock_guard lock(sub_mutex);
        if (ev->event == "resync") ++s->resyncs;
        if (ev->event == "change") {
          auto data = json::parse(ev->data);
          const auto household = str(data, "authHouseholdID");
          const auto seq = data.as_object().at("seq").to_number<std::int64_t>();
          auto it = s->last_seq.find(household);
          if (it == s->last_seq.end()) {
            ++s->gaps;  // not one of its households: counted as wrong
          } else {
            if (seq <= it->second) ++s->repeats;
            if (seq > it->second + 1) ++s->gaps;
          }
          if (it == s->last_seq.end() || seq > it->second) s->last_seq[household] = seq;
          ++s->events;
        }
        if (!ev->id.empty()) s->last_id = ev->id;
      }
    });
  }

  // Writers: random household, random live node.
  std::mutex ack_mutex;
  std::map<std::string, std::string> acknowledged;  // row id → household
  std::atomic<std::int64_t> write_failures{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < opt.writers; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937 local(opt.seed + 100 + static_cast<unsigned>(w));
      std::map<std::uint16_t, std::unique_ptr<http_client>> clients;
      for (std::int64_t i = 0; !stop_writing && i < 10'000'000; ++i) {
        const auto& acc = accounts[local() % accounts.size()];
        const auto& household = acc.households[local() % acc.households.size()];
        auto port = ports.pick(local);
        if (port == 0) {
          std::this_thread::sleep_for(50ms);  // no live node: retry pacing
          continue;
        }
        auto& client = clients[port];
        if (!client) client = std::make_unique<http_client>(port);
        try {
          auto res =
              client->request_as(acc.key, "POST", "/api/v1/shop/items",
                                 json::serialize(json::object{
                                     {"authHouseholdID", household},
                                     {"name", "w" + std::to_string(w) + "." + std::to_string(i)}}));
          if (res.status == 201) {
            std::lock_guard lock(ack_mutex);
            acknowledged[str(first_value(res), "id")] = household;
            continue;
          }
        } catch (const std::exception&) {
          clients.erase(port);
        }
        ++write_failures;
        std::this_thread::sleep_for(50ms);  // failed (fault in progress): retry pacing
      }
    });
  }

  // Watcher: the leader's term as the database records it.
  std::vector<hearth::testing::cluster_leader_row> terms;
  std::thread watcher([&] {
    while (!stop_watching) {
      try {
        auto row = cluster.cluster_leader();
        if (terms.empty() || terms.back().term != row.term || terms.back().node_id != row.node_id)
          terms.push_back(row);
      } catch (const std::exception&) {
        // PostgreSQL down: nothing to read
      }
      std::this_thread::sleep_for(200ms);  // sampling period
    }
  });

  // Faults.
  std::map<std::string, int> faults;
  const auto end = clock_type::now() +
                   std::chrono::milliseconds(static_cast<std::int64_t>(opt.minutes * 60'000));
  auto between = [&](int lo_ms, int hi_ms) {
    return std::chrono::milliseconds(std::uniform_int_distribution<int>(lo_ms, hi_ms)(rng));
  };
  auto kill_and_restart = [&](const std::string& name) {
    ports.remove(name);
    cluster.kill(name);
    std::this_thread::sleep_for(between(500, 2000));  // downtime (fault timing)
    cluster.restart(name);
    ports.set(name, cluster.http_port(name));
  };
  std::string failure;
  try {
    std::this_thread::sleep_for(2s);  // writes flowing before the first fault
    std::vector<int> round;           // each kind once per round, in a random order
    while (clock_type::now() < end) {
      if (round.empty()) {
        round = {0, 1, 2, 3};
        std::shuffle(round.begin(), round.end(), rng);
      }
      const int kind = round.back();
      round.pop_back();
      const auto& names = cluster.names();
      const auto& victim = names[rng() % names.size()];
      switch (kind) {
        case 0:
          ++faults["kill"];
          kill_and_restart(victim);
          break;
        case 1:
          ++faults["freeze"];
          ports.remove(victim);
          cluster.freeze(victim);
          std::this_thread::sleep_for(between(1000, 4000));  // frozen time (fault timing)
          cluster.thaw(victim);
          ports.set(victim, cluster.http_port(victim));
          break;
        case 2:
          ++faults["postgres"];
          db.crash_and_restart(between(200, 1500));
          break;
        case 3: {
          ++faults["leader"];
          std::string leader;
          for (const auto& n : names) {
            if (auto h = cluster.try_health(n); h && h->leading) leader = n;
          }
          kill_and_restart(leader.empty() ? victim : leader);
          break;
        }
      }
      std::this_thread::sleep_for(between(1000, 4000));  // quiet time between faults
    }
  } catch (const std::exception& e) {
    failure = std::string("fault injection failed: ") + e.what();
  }

  // Settle: every node back and linked, writes stopped, streams caught up.
  for (const auto& n : cluster.names()) {
    try {
      if (cluster.frozen(n)) cluster.thaw(n);
      if (!cluster.running(n)) cluster.restart(n);
      ports.set(n, cluster.http_port(n));
    } catch (const std::exception& e) {
      failure += std::string(" restart of ") + n + " failed: " + e.what();
    }
  }
  std::this_thread::sleep_for(1s);  // writes on a whole cluster before stopping them
  stop_writing = true;
  for (auto& t : writers) t.join();
  cluster.wait_linked(30s);

  std::map<std::string, std::int64_t> heads;  // household → seq head in the database
  std::set<std::string> present;
  {
    pqxx::connection conn{cluster.database_url()};
    pqxx::read_transaction tx{conn};
    for (const auto& row : tx.exec("SELECT id::text, event_seq FROM auth_household"))
      heads[row[0].as<std::string>()] = row[1].as<std::int64_t>();
    for (const auto& row : tx.exec("SELECT id::text FROM shop_item"))
      present.insert(row[0].c_str());
  }
  auto caught_up = [&] {
    std::lock_guard lock(sub_mutex);
    for (const auto& s : subscribers) {
      for (const auto& h : s->owner->households) {
        auto it = s->last_seq.find(h);
        auto head = heads[h];
        if (head > 0 && (it == s->last_seq.end() || it->second < head)) return false;
      }
    }
    return true;
  };
  const auto catch_up_deadline = clock_type::now() + 60s;
  while (!caught_up() && clock_type::now() < catch_up_deadline) std::this_thread::sleep_for(50ms);
  stop_reading = true;
  for (auto& s : subscribers) s->thread.join();
  stop_watching = true;
  watcher.join();

  // Checks.
  std::size_t lost = 0;
  for (const auto& [id, household] : acknowledged) lost += present.count(id) == 0 ? 1 : 0;
  std::int64_t events = 0, gaps = 0, repeats = 0, resyncs = 0, reconnects = 0, behind = 0;
  for (const auto& s : subscribers) {
    events += s->events;
    gaps += s->gaps;
    repeats += s->repeats;
    resyncs += s->resyncs;
    reconnects += s->reconnects;
    for (const auto& h : s->owner->households) {
      auto it = s->last_seq.find(h);
      if (heads[h] > 0 && (it == s->last_seq.end() || it->second != heads[h])) ++behind;
    }
  }
  std::size_t term_regressions = 0;
  std::map<std::int64_t, std::set<std::string>> leaders_of_term;
  for (std::size_t i = 0; i < terms.size(); ++i) {
    if (i > 0 && terms[i].term < terms[i - 1].term) ++term_regressions;
    leaders_of_term[terms[i].term].insert(terms[i].node_id);
  }
  std::size_t shared_terms = 0;
  for (const auto& [term, nodes] : leaders_of_term) shared_terms += nodes.size() > 1 ? 1 : 0;
  std::map<std::pair<std::string, std::int64_t>, int> ticks;
  std::size_t unfinished = 0;
  const auto runs = cluster.scheduler_runs();
  for (const auto& r : runs) {
    ++ticks[{r.task, r.tick}];
    if (r.outcome.empty()) ++unfinished;
  }
  std::size_t repeated_ticks = 0;
  for (const auto& [tick, count] : ticks) repeated_ticks += count > 1 ? 1 : 0;
  // Ticks of engine.expire-sessions (every 1 s) that never ran: a failed claim
  // is claimed again and a new leader catches up from the last claimed tick,
  // so there must be none.
  std::vector<std::int64_t> expiry;
  for (const auto& [tick, count] : ticks)
    if (tick.first.ends_with("engine.expire-sessions")) expiry.push_back(tick.second);
  std::int64_t period = 0, skipped_ticks = 0;
  for (std::size_t i = 1; i < expiry.size(); ++i) {
    auto gap = expiry[i] - expiry[i - 1];
    if (period == 0 || gap < period) period = gap;
  }
  for (std::size_t i = 1; period > 0 && i < expiry.size(); ++i)
    skipped_ticks += (expiry[i] - expiry[i - 1]) / period - 1;

  int total_faults = 0;
  std::string fault_list;
  for (const auto& [kind, count] : faults) {
    total_faults += count;
    fault_list += (fault_list.empty() ? "" : ", ") + kind + " " + std::to_string(count);
  }
  std::printf(
      "chaos: %.1f min, seed %u: %d faults (%s); %zu writes acknowledged, %lld failed or refused, "
      "%zu rows; %lld events delivered to %zu subscribers (%lld stream resumes); lost %zu, "
      "duplicates %lld, gaps %lld, resyncs %lld, subscriber-households behind %lld; %zu terms "
      "(%zu regressions, %zu shared); %zu cron ticks (%zu repeated, %zu unfinished; "
      "engine.expire-sessions ran %zu ticks, %lld skipped during outages)\n",
      opt.minutes, opt.seed, total_faults, fault_list.c_str(), acknowledged.size(),
      static_cast<long long>(write_failures.load()), present.size(), static_cast<long long>(events),
      subscribers.size(), static_cast<long long>(reconnects), lost, static_cast<long long>(repeats),
      static_cast<long long>(gaps), static_cast<long long>(resyncs), static_cast<long long>(behind),
      leaders_of_term.size(), term_regressions, shared_terms, runs.size(), repeated_ticks,
      unfinished, expiry.size(), static_cast<long long>(skipped_ticks));
  const bool ok = failure.empty() && lost == 0 && repeats == 0 && gaps == 0 && resyncs == 0 &&
                  behind == 0 && term_regressions == 0 && shared_terms == 0 &&
                  repeated_ticks == 0 && skipped_ticks == 0 && !acknowledged.empty() &&
                  total_faults > 0;
  if (!failure.empty()) std::printf("chaos: %s\n", failure.c_str());
  if (!ok) {
    std::printf("chaos: FAILED\n%s\n", cluster.log_tails(3000).c_str());
    return 1;
  }
  std::printf("chaos: OK\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hearth chaos soak: 3 nodes, one PostgreSQL, random faults, then checks"};
  run_options opt;
  opt.seed = static_cast<unsigned>(::getpid());
  app.add_option("--minutes", opt.minutes, "how long faults are injected")
      ->check(CLI::Range(0.1, 600.0));
  app.add_option("--seed", opt.seed, "random seed (default: the pid), printed in the summary");
  app.add_option("--households", opt.households, "households written to")
      ->check(CLI::Range(3, 1000));
  app.add_option("--writers", opt.writers, "concurrent writers")->check(CLI::Range(1, 64));
  CLI11_PARSE(app, argc, argv);
  try {
    return run(opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "chaos: %s\n", e.what());
    return 1;
  }
}
