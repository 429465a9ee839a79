// The chaos soak (scripts/chaos [minutes]; CTest runs it for 1 minute).
//
// Three hearth nodes on one PostgreSQL (a private embedded cluster this
// program can restart), writers writing rows in many households through
// every node, a member churner, and SSE subscribers on every node. Each
// writer creates rows and then changes only its own: updates, moves to
// another household of the same account, deletes, and deliberate replays
// of an acknowledged request. Every write carries an Idempotency-Key and is
// sent again with the same key, to any live node, until a node answers it
// (a retry after a fault); so the last acknowledged state of each row is
// well defined. The churner adds an account to a household, writes as it,
// makes it view-only, opens a stream as it, removes it, and checks each
// step took effect on every node (the stream ends within 30 s). Every few
// seconds a random fault is injected:
//   kill     kill -9 of a random node, restarted 0.5-2 s later
//   freeze   SIGSTOP of a random node, SIGCONT 1-4 s later
//   postgres PostgreSQL stopped in immediate mode (a crash), started again
//   leader   kill -9 of the leader, restarted 0.5-2 s later
// With --failover, PostgreSQL is a primary and a synchronous standby
// (tests/support/replicated_postgres.hpp; the nodes have both hosts with
// target_session_attrs=read-write), `postgres` crashes the primary, and
// one more kind runs:
//   failover kill -9 of the primary's processes, the standby promoted
//            0.2-1.5 s later, then the old primary rebuilt as the new
//            primary's synchronous standby (so the next round can fail
//            over again)
// The kinds come in rounds (each once per round, in random order).
// At the end every node runs again and the checks are:
//   - every acknowledged creation is in the database, and every row is in
//     the state it was last acknowledged in (name, household; deleted rows
//     gone); a row whose write never got an answer is not checked further;
//   - a replay of an acknowledged request gets the same answer, marked
//     replayed, and writes nothing;
//   - membership changes hold at once: a view-only member's write is 403,
//     a removed member's read of the household 404;
//   - every subscriber got every event of its households exactly once and in
//     order (each household's seq goes up by one at a time, across resumes
//     with Last-Event-ID, and ends at the household's head), with no resync;
//   - the leader's term never went down, and each term had one leader;
//   - each cron tick ran once: none twice (scheduler_run's key), and none of
//     engine.expire-sessions (every 1 s) skipped, though the database was
//     down and leaders died.
// Exit code 0 when every check holds, 1 otherwise; one summary line of
// figures either way.

#include <fmt/format.h>
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
#include "tests/support/replicated_postgres.hpp"

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

/// A row a writer created and then changes alone: its last acknowledged state.
struct owned_row {
  std::size_t account = 0;  // the account whose household holds it
  std::string household, name;
  bool deleted = false;
  bool uncertain = false;  // a write of it never got an answer: not checked further
};

/// An acknowledged request, kept to replay it deliberately.
struct sent_request {
  std::string key, method, target, body, idempotency_key;
  unsigned status = 0;
  std::string data;  // the answer's dataValue, serialised
};

/// The writers' and the churner's figures (all guarded by one mutex).
struct write_ledger {
  std::mutex mutex;
  std::map<std::string, owned_row> rows;      // row id → its last acknowledged state
  std::size_t uncertain_creations = 0;        // creations never answered
  std::map<std::string, std::int64_t> acked;  // operation → acknowledged count
  std::int64_t retried = 0;                   // requests sent again after a fault
  std::int64_t replayed = 0;  // retries answered by a replay (the first attempt had committed)
  std::int64_t deliberate_replays = 0;
  std::int64_t membership_steps = 0;
  std::int64_t removed_streams_ended = 0;  // a removed member's stream, ended
  std::vector<std::string> violations;     // wrong answers, the first 20
  void violation(std::string what) {
    std::lock_guard lock(mutex);
    if (violations.size() < 20) violations.push_back(std::move(what));
  }
};

std::string data_of(const http_response& res) {
  try {
    return json::serialize(res.json().as_object().at("dataValue"));
  } catch (const std::exception&) {
    return "";
  }
}

using client_map = std::map<std::uint16_t, std::unique_ptr<http_client>>;

/// Sends one request until a live node answers it other than with a 5xx or
/// 429 (both mean "try again"), with the same Idempotency-Key each time, for
/// at most `patience`. nullopt when no node answered in time.
std::optional<http_response> send_until_answered(live_ports& ports, std::mt19937& rng,
                                                 client_map& clients, const sent_request& r,
                                                 write_ledger& ledger,
                                                 std::chrono::milliseconds patience = 30s,
                                                 int* attempts = nullptr) {
  const auto deadline = clock_type::now() + patience;
  for (int attempt = 0; clock_type::now() < deadline; ++attempt) {
    if (attempts) *attempts = attempt + 1;
    if (attempt > 0) {
      std::lock_guard lock(ledger.mutex);
      ++ledger.retried;
    }
    auto port = ports.pick(rng);
    if (port == 0) {
      std::this_thread::sleep_for(50ms);  // no live node: retry pacing
      continue;
    }
    auto& client = clients[port];
    if (!client) client = std::make_unique<http_client>(port);
    try {
      std::map<std::string, std::string> headers{{"Authorization", "Bearer " + r.key}};
      if (!r.idempotency_key.empty()) headers["Idempotency-Key"] = r.idempotency_key;
      auto res = client->request(r.method, r.target, r.body, headers);
      if (res.status < 500 && res.status != 429) {
        if (attempt > 0 && res.header("idempotent-replayed") == "true") {
          std::lock_guard lock(ledger.mutex);
          ++ledger.replayed;
        }
        return res;
      }
    } catch (const std::exception&) {
      clients.erase(port);
    }
    std::this_thread::sleep_for(50ms);  // failed (fault in progress): retry pacing
  }
  return std::nullopt;
}

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
  bool failover = false;
};

int run(const run_options& opt) {
  std::mt19937 rng(opt.seed);
  // One of the two: a single PostgreSQL, or a primary and its standby.
  std::unique_ptr<database> single;
  std::unique_ptr<hearth::testing::replicated_postgres> replicated;
  if (opt.failover)
    replicated = std::make_unique<hearth::testing::replicated_postgres>();
  else
    single = std::make_unique<database>();
  hearth::testing::cluster_options co;
  co.nodes = 3;
  co.database_url = replicated ? replicated->hearth_url() : single->url();
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

  // Writers: each creates rows in random households of random accounts and
  // then changes only its own, through random live nodes.
  write_ledger ledger;
  std::atomic<std::int64_t> write_failures{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < opt.writers; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937 local(opt.seed + 100 + static_cast<unsigned>(w));
      client_map clients;
      std::vector<std::string> mine;  // ids of this writer's rows that may still change
      std::optional<sent_request> last;
      auto forget = [&](const std::string& id) {
        mine.erase(std::find(mine.begin(), mine.end(), id));
      };
      for (std::int64_t i = 0; !stop_writing && i < 10'000'000; ++i) {
        const auto roll = local() % 100;
        const auto idem = "w" + std::to_string(w) + "." + std::to_string(i);
        if (roll >= 85 && roll < 90 && last) {  // replay the last acknowledged request
          auto res = send_until_answered(ports, local, clients, *last, ledger);
          if (!res) continue;
          if (res->status != last->status || data_of(*res) != last->data ||
              res->header("idempotent-replayed") != "true")
            ledger.violation("replay of " + last->method + " " + last->target + " (" +
                             last->idempotency_key + "): " + std::to_string(res->status) + " " +
                             res->body.substr(0, 300));
          std::lock_guard lock(ledger.mutex);
          ++ledger.deliberate_replays;
          continue;
        }
        sent_request r;
        r.idempotency_key = idem;
        std::string op, row_id;
        owned_row next;
        if (roll < 40 || mine.empty()) {
          op = "create";
          next.account = local() % accounts.size();
          const auto& hs = accounts[next.account].households;
          next.household = hs[local() % hs.size()];
          next.name = idem;
          r.method = "POST";
          r.target = "/api/v1/shop/items";
          r.body = json::serialize(
              json::object{{"authHouseholdID", next.household}, {"name", next.name}});
        } else {
          row_id = mine[local() % mine.size()];
          {
            std::lock_guard lock(ledger.mutex);
            next = ledger.rows.at(row_id);
          }
          r.target = "/api/v1/shop/items/" + row_id;
          const auto& hs = accounts[next.account].households;
          if (roll < 70) {
            op = "update";
            next.name = idem;
            r.method = "PUT";
            r.body = json::serialize(json::object{{"name", next.name}});
          } else if (roll < 80 && hs.size() > 1) {
            op = "move";
            auto at = static_cast<std::size_t>(std::find(hs.begin(), hs.end(), next.household) -
                                               hs.begin());
            next.household = hs[(at + 1 + local() % (hs.size() - 1)) % hs.size()];
            r.method = "PUT";
            r.body = json::serialize(json::object{{"authHouseholdID", next.household}});
          } else {
            op = "delete";
            next.deleted = true;
            r.method = "DELETE";
          }
        }
        r.key = accounts[next.account].key;
        auto res = send_until_answered(ports, local, clients, r, ledger);
        const unsigned want = op == "create" ? 201 : 200;
        if (!res || res->status != want) {
          ++write_failures;
          std::lock_guard lock(ledger.mutex);
          if (!res && op == "create") ++ledger.uncertain_creations;
          if (res && ledger.violations.size() < 20)
            ledger.violations.push_back(op + " " + r.target + ": " + std::to_string(res->status) +
                                        " " + res->body.substr(0, 300));
          if (op != "create") {  // its state is unknown from here on
            ledger.rows.at(row_id).uncertain = true;
            forget(row_id);
          }
          continue;
        }
        r.status = res->status;
        r.data = data_of(*res);
        last = r;
        std::lock_guard lock(ledger.mutex);
        ++ledger.acked[op];
        if (op == "create") {
          row_id = str(first_value(*res), "id");
          ledger.rows[row_id] = next;
          mine.push_back(row_id);
        } else {
          ledger.rows.at(row_id) = next;
          if (next.deleted) forget(row_id);
        }
      }
    });
  }

  // The churner: a visitor account joins a household of account 0, writes,
  // is made view-only and is removed; each step, once acknowledged, must
  // hold on whichever node answers next.
  std::thread churner([&] {
    std::mt19937 local(opt.seed + 7);
    client_map clients;
    std::string visitor_key, visitor_id, visitor_email;
    try {
      http_client http(cluster.http_port(cluster.names().front()));
      visitor_email = "chaos" + std::to_string(::getpid()) + ".visitor@example.com";
      const std::string password = "chaos soak password";
      require(http.request("POST", "/api/v1/auth/signup",
                           json::serialize(json::object{{"emailAddress", visitor_email},
                                                        {"password", password},
                                                        {"name", "visitor"}})),
              201, "signup");
      auto res = http.request(
          "POST", "/api/v1/auth/signin",
          json::serialize(json::object{{"emailAddress", visitor_email}, {"password", password}}));
      require(res, 201, "signin");
      visitor_key = str(first_value(res), "key");
      visitor_id = str(first_value(res), "authAccountID");
    } catch (const std::exception& e) {
      ledger.violation(std::string("the churner's account: ") + e.what());
      return;
    }
    const auto& owner = accounts[0];
    for (std::int64_t round = 0; !stop_writing && round < 1'000'000; ++round) {
      const auto& h = owner.households[local() % owner.households.size()];
      const auto tag = "m" + std::to_string(round);
      const auto member = "/api/v1/auth/households/" + h + "/members/" + visitor_id;
      // `also`: a status accepted on a retry only (an earlier attempt,
      // unanswered or answered 5xx, may have done the work already).
      auto step = [&](const sent_request& r, unsigned want, const std::string& what,
                      unsigned also = 0) -> std::optional<http_response> {
        int attempts = 0;
        auto res = send_until_answered(ports, local, clients, r, ledger, 30s, &attempts);
        if (!res) return std::nullopt;  // no answer: the round ends here
        if (res->status != want && (also == 0 || res->status != also || attempts < 2)) {
          ledger.violation("membership, " + what + ": " + std::to_string(res->status) + " " +
                           res->body.substr(0, 300));
          return std::nullopt;
        }
        std::lock_guard lock(ledger.mutex);
        ++ledger.membership_steps;
        return res;
      };
      if (!step({owner.key, "POST", "/api/v1/auth/households/" + h + "/members",
                 json::serialize(
                     json::object{{"emailAddress", visitor_email}, {"permissions", "edit"}}),
                 tag + ".add"},
                201, "add"))
        break;
      // As an editor the visitor writes: a creation like any other, checked at the end.
      sent_request write{visitor_key, "POST", "/api/v1/shop/items",
                         json::serialize(json::object{{"authHouseholdID", h}, {"name", tag}}),
                         tag + ".write"};
      auto written = step(write, 201, "a member's write");
      if (!written) break;
      {
        std::lock_guard lock(ledger.mutex);
        ledger.rows[str(first_value(*written), "id")] = {0, h, tag, false, false};
        ++ledger.acked["member create"];
      }
      if (!step({owner.key, "PUT", member, json::serialize(json::object{{"permissions", "view"}}),
                 ""},
                200, "made view-only"))
        break;
      // View-only now, on every node: a write is refused (a new key: a new request).
      write.idempotency_key = tag + ".refused";
      if (!step(write, 403, "a view-only member's write")) break;
      // The view-only visitor opens a stream on a live node (a role change
      // ends the streams opened before it); the removal, whichever node
      // answers it, must end this one too.
      std::unique_ptr<sse_client> visitor_stream;
      if (auto port = ports.pick(local); port != 0) {
        try {
          visitor_stream = std::make_unique<sse_client>(
              port, std::map<std::string, std::string>{{"Authorization", "Bearer " + visitor_key}});
        } catch (const std::exception&) {
          // its node is failing: no stream to check this round
        }
      }
      // Removed (only a retry after a lost answer may find it gone already: 404).
      if (!step({owner.key, "DELETE", member, "", ""}, 200, "removed", 404)) break;
      if (visitor_stream) {
        // Ended: closed, or told to reconnect. A frozen node or a database
        // outage may delay it, never by 30 s.
        const auto deadline = clock_type::now() + 30s;
        bool ended = false;
        while (!ended && clock_type::now() < deadline) {
          auto ev = visitor_stream->next(
              std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now()));
          ended = visitor_stream->closed() || (ev && ev->event == "reconnect");
        }
        if (!ended) {
          ledger.violation("membership: a removed member's stream was still open 30 s later");
        } else {
          std::lock_guard lock(ledger.mutex);
          ++ledger.removed_streams_ended;
        }
      }
      if (!step({visitor_key, "GET", "/api/v1/auth/households/" + h, "", ""}, 404,
                "a removed member's read"))
        break;
      std::this_thread::sleep_for(100ms);  // pacing between rounds
    }
  });

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
        if (replicated) round.push_back(4);
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
          if (replicated)
            replicated->crash_and_restart_primary(between(200, 1500));
          else
            single->crash_and_restart(between(200, 1500));
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
        case 4:
          ++faults["failover"];
          replicated->kill_primary();
          std::this_thread::sleep_for(between(200, 1500));  // time to promotion (fault timing)
          replicated->promote_standby();
          replicated->rebuild_standby();
          break;
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
  churner.join();
  cluster.wait_linked(30s);

  std::map<std::string, std::int64_t> heads;  // household → seq head in the database
  std::set<std::string> present;
  std::map<std::string, std::pair<std::string, std::string>> stored;  // id → (household, name)
  {
    pqxx::connection conn{cluster.database_url()};
    pqxx::read_transaction tx{conn};
    for (const auto& row : tx.exec("SELECT id::text, event_seq FROM auth_household"))
      heads[row[0].as<std::string>()] = row[1].as<std::int64_t>();
    for (const auto& row :
         tx.exec("SELECT id::text, auth_household_id::text, name FROM shop_item")) {
      present.insert(row[0].c_str());
      stored[row[0].as<std::string>()] = {row[1].as<std::string>(), row[2].as<std::string>()};
    }
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
  // Every row in its last acknowledged state.
  std::size_t lost = 0, wrong_state = 0, resurrected = 0, checked_rows = 0;
  std::string first_wrong;
  for (const auto& [id, row] : ledger.rows) {
    if (row.uncertain) continue;
    ++checked_rows;
    auto it = stored.find(id);
    if (row.deleted) {
      if (it != stored.end()) ++resurrected;
      continue;
    }
    if (it == stored.end()) {
      ++lost;
      continue;
    }
    if (it->second.first != row.household || it->second.second != row.name) {
      ++wrong_state;
      if (first_wrong.empty())
        first_wrong = id + ": stored " + it->second.first + " " + it->second.second +
                      ", acknowledged " + row.household + " " + row.name;
    }
  }
  std::string acked_list;
  std::int64_t acked_total = 0;
  for (const auto& [op, n] : ledger.acked) {
    acked_total += n;
    acked_list += (acked_list.empty() ? "" : ", ") + op + " " + std::to_string(n);
  }
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
  std::map<std::int64_t, const hearth::testing::scheduler_run_row*> expiry_runs;  // tick → its run
  for (const auto& r : runs)
    if (r.task.ends_with("engine.expire-sessions")) expiry_runs[r.tick] = &r;
  for (const auto& [tick, run] : expiry_runs) expiry.push_back(tick);
  std::int64_t period = 0, skipped_ticks = 0;
  for (std::size_t i = 1; i < expiry.size(); ++i) {
    auto gap = expiry[i] - expiry[i - 1];
    if (period == 0 || gap < period) period = gap;
  }
  std::string skipped_list;  // each gap with the runs on either side, to find the cause
  for (std::size_t i = 1; period > 0 && i < expiry.size(); ++i) {
    const auto missing = (expiry[i] - expiry[i - 1]) / period - 1;
    if (missing <= 0) continue;
    skipped_ticks += missing;
    const auto& before = *expiry_runs[expiry[i - 1]];
    const auto& after = *expiry_runs[expiry[i]];
    skipped_list += fmt::format(
        "chaos: {} tick(s) skipped between {} (term {}, {}) and {} (term {}, {})\n", missing,
        before.tick, before.term, before.node_id, after.tick, after.term, after.node_id);
  }

  int total_faults = 0;
  std::string fault_list;
  for (const auto& [kind, count] : faults) {
    total_faults += count;
    fault_list += (fault_list.empty() ? "" : ", ") + kind + " " + std::to_string(count);
  }
  std::printf(
      "chaos: %.1f min, seed %u: %d faults (%s); %lld writes acknowledged (%s), %lld sent again "
      "after a fault (%lld of them already committed: replayed), %lld deliberate replays, %lld "
      "membership steps (%lld removed members' streams ended), %lld failed, %zu creations never "
      "answered; %zu rows checked: lost %zu, "
      "wrong state %zu, deleted but present %zu; %zu rows; %lld events delivered to %zu "
      "subscribers (%lld stream resumes); duplicates %lld, gaps %lld, resyncs %lld, "
      "subscriber-households behind %lld; %zu terms (%zu regressions, %zu shared); %zu cron ticks "
      "(%zu repeated, %zu unfinished; engine.expire-sessions ran %zu ticks, %lld skipped during "
      "outages)\n",
      opt.minutes, opt.seed, total_faults, fault_list.c_str(), static_cast<long long>(acked_total),
      acked_list.c_str(), static_cast<long long>(ledger.retried),
      static_cast<long long>(ledger.replayed), static_cast<long long>(ledger.deliberate_replays),
      static_cast<long long>(ledger.membership_steps),
      static_cast<long long>(ledger.removed_streams_ended),
      static_cast<long long>(write_failures.load()), ledger.uncertain_creations, checked_rows, lost,
      wrong_state, resurrected, present.size(), static_cast<long long>(events), subscribers.size(),
      static_cast<long long>(reconnects), static_cast<long long>(repeats),
      static_cast<long long>(gaps), static_cast<long long>(resyncs), static_cast<long long>(behind),
      leaders_of_term.size(), term_regressions, shared_terms, runs.size(), repeated_ticks,
      unfinished, expiry.size(), static_cast<long long>(skipped_ticks));
  for (const auto& v : ledger.violations) std::printf("chaos: wrong answer: %s\n", v.c_str());
  std::printf("%s", skipped_list.c_str());
  if (!first_wrong.empty())
    std::printf("chaos: first row in a wrong state: %s\n", first_wrong.c_str());
  bool ok = failure.empty() && lost == 0 && wrong_state == 0 && resurrected == 0 &&
            ledger.violations.empty() && ledger.membership_steps > 0 &&
            ledger.removed_streams_ended > 0 && ledger.acked.count("update") &&
            ledger.acked.count("delete") && ledger.acked.count("move") && repeats == 0 &&
            gaps == 0 && resyncs == 0 && behind == 0 && term_regressions == 0 &&
            shared_terms == 0 && repeated_ticks == 0 && skipped_ticks == 0 && acked_total > 0 &&
            total_faults > 0;
  if (!failure.empty()) std::printf("chaos: %s\n", failure.c_str());
  if (opt.failover && !faults.count("failover")) ok = false;
  if (!ok) {
    std::printf("chaos: FAILED\n%s\n", cluster.log_tails(3000).c_str());
    if (replicated) std::printf("%s\n", replicated->logs().c_str());
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
  app.add_flag(
      "--failover", opt.failover,
      "PostgreSQL as a primary and a synchronous standby, with failovers among the faults");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "chaos: %s\n", e.what());
    return 1;
  }
}
