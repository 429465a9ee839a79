#include "storage/health_probe.hpp"

#include <algorithm>
#include <exception>
#include <pqxx/pqxx>

#include "storage/pool.hpp"

namespace hearth::storage {

struct health_probe::conn_holder {
  std::unique_ptr<pqxx::connection> conn;
};

namespace {

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s.empty() ? std::string("no answer") : s;
}

}  // namespace

health_probe::health_probe(std::string url)
    : url_(with_network_timeouts(url)), conn_(std::make_unique<conn_holder>()) {
  prober_ = std::thread([this] { run_prober(); });
  deadlines_ = std::thread([this] { run_deadlines(); });
}

health_probe::~health_probe() { stop(); }

void health_probe::stop() {
  std::vector<waiter> left;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    left.swap(waiters_);
  }
  prober_wake_.notify_all();
  deadline_wake_.notify_all();
  for (auto& w : left) w.done("stopping");
  if (prober_.joinable()) prober_.join();
  if (deadlines_.joinable()) deadlines_.join();
}

void health_probe::check(std::chrono::milliseconds deadline, callback done) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      waiters_.push_back(
          {std::chrono::steady_clock::now() + deadline, deadline, next_round_, std::move(done)});
      prober_wake_.notify_one();
      deadline_wake_.notify_one();
      return;
    }
  }
  done("stopping");
}

std::uint64_t health_probe::probes() const {
  std::lock_guard lock(mutex_);
  return probes_;
}

std::string health_probe::probe_once() {
  try {
    if (!conn_->conn) conn_->conn = std::make_unique<pqxx::connection>(url_);
    pqxx::nontransaction tx{*conn_->conn};
    tx.exec1("SELECT 1");
    return {};
  } catch (const std::exception& e) {
    conn_->conn.reset();  // a new connection at the next probe
    return trimmed(e.what());
  }
}

void health_probe::run_prober() {
  std::unique_lock lock(mutex_);
  for (;;) {
    prober_wake_.wait(lock, [&] {
      return stopping_ || std::any_of(waiters_.begin(), waiters_.end(),
                                      [&](const waiter& w) { return w.round == next_round_; });
    });
    if (stopping_) break;
    const auto round = next_round_++;
    ++probes_;
    lock.unlock();
    auto error = probe_once();
    lock.lock();
    std::vector<waiter> answered;
    auto split = std::stable_partition(waiters_.begin(), waiters_.end(),
                                       [&](const waiter& w) { return w.round > round; });
    std::move(split, waiters_.end(), std::back_inserter(answered));
    waiters_.erase(split, waiters_.end());
    lock.unlock();
    for (auto& w : answered) w.done(error);
    lock.lock();
  }
  lock.unlock();
  conn_->conn.reset();
}

void health_probe::run_deadlines() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (waiters_.empty()) {
      deadline_wake_.wait(lock, [&] { return stopping_ || !waiters_.empty(); });
      continue;
    }
    const auto first =
        std::min_element(waiters_.begin(), waiters_.end(),
                         [](const waiter& a, const waiter& b) { return a.deadline < b.deadline; });
    const auto until = first->deadline;
    if (std::chrono::steady_clock::now() < until) {
      deadline_wake_.wait_until(lock, until);  // a new waiter or stop wakes it early too
      continue;
    }
    waiter expired = std::move(*first);
    waiters_.erase(first);
    lock.unlock();
    expired.done("no answer within " + std::to_string(expired.budget.count()) + " ms");
    lock.lock();
  }
}

}  // namespace hearth::storage
