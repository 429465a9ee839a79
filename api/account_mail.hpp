#pragma once
// E-mailed links (docs/api.md, "E-mailed links"): the e-mails the account
// and household routes ask for (a password reset, a new address to
// confirm, an invitation to a household) and what those routes share.
//
// Each e-mail is a message of the "account.email" topic, which the
// notifications module (apps/notify) declares and delivers through the
// SMTP relay (smtpURL). The message names the token request
// (storage/account_tokens.hpp), never a token: the delivery issues the
// token as it writes the e-mail, so none is stored in the Pub/Sub tables.

#include <boost/describe.hpp>
#include <optional>
#include <string>

#include "engine/pubsub.hpp"
#include "http/types.hpp"

namespace hearth::api {

struct services;

/// The topic's name.
inline constexpr const char* kAccountMailTopic = "account.email";

/// One e-mail to send.
struct account_mail {
  std::string token_request;  // auth_token.id
  std::string base_url;       // where the link points: publicURL, else the request's host
};
BOOST_DESCRIBE_STRUCT(account_mail, (), (token_request, base_url))

/// The topic that carries these e-mails when this node sends e-mail
/// (smtpURL set, and apps/notify declared the topic); nullopt otherwise.
std::optional<engine::topic<account_mail>> account_mail_topic(const services& s);

/// Before a token is looked up: the 429 (`too many invalid tokens from
/// this address`, with Retry-After) when `req`'s client IP sent too many
/// bad ones (auth_guard::admit_key, as for unknown session keys), else
/// nullopt.
std::optional<http::response> token_throttled(services& s, const http::request& req);

/// A token that is unknown, used or expired: counted against client `ip`,
/// logged at NOTICE ("security: <what> refused (bad token): request …
/// [account …] from …"; `account` "" when the caller is anonymous), and
/// thrown as a 400 `token: unknown, already used or expired`.
[[noreturn]] void refuse_token(services& s, const std::string& ip, const std::string& rid,
                               const char* what, const std::string& account = "");
/// Counts one more e-mail to `email` asked for by `req`'s client
/// (auth_guard::admit_mail): nullopt when it may go, else the 429 to answer
/// (`too many e-mails asked for`, with Retry-After), logged at NOTICE as a
/// throttled `what` ("password reset", "invitation", ...).
std::optional<http::response> mail_refused(services& s, const http::request& req,
                                           const std::string& email, const char* what);

}  // namespace hearth::api
