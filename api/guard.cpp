#include "api/guard.hpp"

#include <algorithm>
#include <cctype>

#include "http/envelope.hpp"

namespace hearth::api {
namespace {

http::throttle_options options(const config::config& cfg, std::int64_t limit) {
  return {.limit = limit,
          .window_ms = cfg.auth_failure_window_ms,
          .base_wait_ms = cfg.auth_retry_after_ms,
          .max_wait_ms = std::max(cfg.auth_max_retry_after_ms, cfg.auth_retry_after_ms)};
}

// E-mails to one address before each further one waits (admit_mail).
constexpr std::int64_t kMailsPerAddress = 5;

}  // namespace

auth_guard::auth_guard(const config::config& cfg)
    : accounts_(options(cfg, cfg.auth_failure_limit)),
      signin_ips_(options(cfg, cfg.auth_ip_failure_limit)),
      signup_ips_(options(cfg, cfg.auth_ip_failure_limit)),
      key_ips_(options(cfg, cfg.auth_ip_failure_limit)),
      mail_ips_(options(cfg, cfg.auth_ip_failure_limit)),
      mail_addresses_(options(cfg, kMailsPerAddress)),
      streams_by_account_(static_cast<std::size_t>(cfg.max_streams_per_account)),
      streams_by_address_(static_cast<std::size_t>(cfg.max_streams_per_address)) {}

http::keyed_quota::slot auth_guard::admit_stream(const std::string& account,
                                                 const std::string& ip) {
  auto by_account = streams_by_account_.acquire(account);
  if (!by_account) return nullptr;
  auto by_address = streams_by_address_.acquire(ip);
  if (!by_address) return nullptr;  // by_account's slot goes back with it
  return std::make_shared<std::pair<http::keyed_quota::slot, http::keyed_quota::slot>>(
      std::move(by_account), std::move(by_address));
}

std::int64_t auth_guard::admit_signin_ip(const std::string& ip) { return signin_ips_.admit(ip); }

std::int64_t auth_guard::admit_signin(const std::string& ip, const std::string& account) {
  // Both are asked (each refusal counts for the key that refused).
  auto by_ip = signin_ips_.admit(ip);
  auto by_account = accounts_.admit(account);
  return std::max(by_ip, by_account);
}

void auth_guard::signin_failed(const std::string& ip, const std::string& account) {
  signin_ips_.fail(ip);
  accounts_.fail(account);
}

void auth_guard::signin_succeeded(const std::string& account) { accounts_.reset(account); }

std::int64_t auth_guard::admit_signup(const std::string& ip) { return signup_ips_.admit(ip); }

void auth_guard::signup_refused(const std::string& ip) { signup_ips_.fail(ip); }

std::int64_t auth_guard::admit_mail(const std::string& ip, const std::string& address) {
  std::string key = address;
  for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // Both are asked (each refusal counts for the key that refused); an
  // admitted e-mail counts too.
  auto wait = std::max(mail_ips_.admit(ip), mail_addresses_.admit(key));
  if (wait == 0) {
    mail_ips_.fail(ip);
    mail_addresses_.fail(key);
  }
  return wait;
}

std::int64_t auth_guard::admit_key(const std::string& ip) { return key_ips_.admit(ip); }

void auth_guard::key_rejected(const std::string& ip) { key_ips_.fail(ip); }

http::response auth_guard::too_many(const std::string& request_id, std::int64_t wait_ms,
                                    const std::string& message) {
  auto r = http::error(429, request_id, message);
  r.headers.emplace_back("Retry-After",
                         std::to_string((std::max<std::int64_t>(wait_ms, 1) + 999) / 1000));
  return r;
}

}  // namespace hearth::api
