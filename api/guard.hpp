#pragma once
// The node's defence against guessing (README.md, "Security"): failure
// throttles (http/throttle.hpp) for sign-in per account and per client IP,
// for refused sign-ups per client IP (account enumeration) and for unknown
// session keys per client IP (key guessing). A throttled attempt is
// answered 429 with Retry-After and costs no password hash.
//
// It also bounds what one account or one client address may hold: SSE
// streams (maxStreamsPerAccount, maxStreamsPerAddress; the connections per
// address are bounded by the HTTP engine, maxConnectionsPerAddress).
//
// In memory and per node, on purpose: a check is a hash-map lookup under a
// small mutex, with no database round trip before it and no database write
// per failed attempt (which would make failures an amplifier against
// PostgreSQL). Behind a load balancer with N nodes an attacker gets at most
// N times the limits; a restart forgets the counts.

#include <cstdint>
#include <string>

#include "config/config.hpp"
#include "http/quota.hpp"
#include "http/throttle.hpp"
#include "http/types.hpp"

namespace hearth::api {

class auth_guard {
 public:
  /// Limits from authFailureLimit (per account), authIPFailureLimit (per
  /// client IP, each kind apart), authFailureWindowMs, authRetryAfterMs and
  /// authMaxRetryAfterMs.
  explicit auth_guard(const config::config& cfg);

  // Each admit_*() returns 0 when the attempt may go on, else the
  // milliseconds to wait; a refused attempt counts as a failure (the wait
  // doubles, see failure_throttle::admit).

  /// Sign-in, on the network thread before any database work: the client IP.
  std::int64_t admit_signin_ip(const std::string& ip);
  /// Sign-in, on the pool thread right before the password is verified:
  /// the client IP and the account (`account` = credentials::key).
  std::int64_t admit_signin(const std::string& ip, const std::string& account);
  /// A wrong password or unknown account: counts for both.
  void signin_failed(const std::string& ip, const std::string& account);
  /// A sign-in that succeeded: the account's count is forgotten (the
  /// client IP's is not: one account of one's own must not buy guesses at
  /// others).
  void signin_succeeded(const std::string& account);

  /// Sign-up, before the body is read: the client IP.
  std::int64_t admit_signup(const std::string& ip);
  /// A sign-up refused (address taken, invalid body).
  void signup_refused(const std::string& ip);

  /// An e-mail a request asks for (a password reset, an address
  /// confirmation, an invitation), before it is queued: the client IP and
  /// the address (ASCII case-insensitive). Every e-mail counts, sent or
  /// not: after 5 to one address (authIPFailureLimit from one IP) within
  /// authFailureWindowMs, each further one waits, the wait doubling, so an
  /// address cannot be flooded through hearth.
  std::int64_t admit_mail(const std::string& ip, const std::string& address);

  /// A request carrying a session key, before it is looked up: the client IP.
  std::int64_t admit_key(const std::string& ip);
  /// A session key that is unknown or expired.
  void key_rejected(const std::string& ip);

  /// An SSE stream of `account` from client address `ip`: the slots it
  /// holds in both quotas (null when either is full: 429, counted; the
  /// NOTICE line is the caller's). The stream keeps the slot while it is
  /// open.
  http::keyed_quota::slot admit_stream(const std::string& account, const std::string& ip);
  /// Streams refused since start, per account and per address (metrics).
  std::uint64_t streams_refused_per_account() const { return streams_by_account_.refused(); }
  std::uint64_t streams_refused_per_address() const { return streams_by_address_.refused(); }

  /// The 429 envelope with `message` and `Retry-After: <wait in whole
  /// seconds, rounded up>` (RFC 6585 §4, RFC 9110 §10.2.3).
  static http::response too_many(const std::string& request_id, std::int64_t wait_ms,
                                 const std::string& message);

 private:
  http::failure_throttle accounts_, signin_ips_, signup_ips_, key_ips_, mail_ips_, mail_addresses_;
  http::keyed_quota streams_by_account_, streams_by_address_;
};

}  // namespace hearth::api
