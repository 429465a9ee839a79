#pragma once
// Password hashing and session keys, all from libsodium: Argon2id
// (crypto_pwhash_str, "interactive" limits: ~64 MiB, a few tens of ms) for
// passwords; 256-bit random keys, base64url without padding, for sessions,
// stored only as their SHA-256.

#include <string>

namespace hearth::storage {

/// Initialises libsodium; call once at start-up (idempotent). Throws on failure.
void crypto_init();

/// Argon2id hash string of `password` (self-describing, salted).
/// CPU- and memory-heavy: call it on a pool thread, never a network thread.
std::string hash_password(const std::string& password);

/// True when `password` matches `hash` (constant time).
bool verify_password(const std::string& hash, const std::string& password);

/// A new random session key: 32 bytes as base64url (43 characters).
std::string new_session_key();

/// SHA-256 of a session key (32 raw bytes), as stored in auth_session.key_hash.
std::string session_key_hash(const std::string& key);

/// A short content tag of `bytes` (BLAKE2b-128, base64url): for ETags.
std::string content_tag(const std::string& bytes);

/// base64url (no padding) of raw bytes, and back; decode returns false on bad input.
std::string base64url_encode(const std::string& bytes);
bool base64url_decode(const std::string& text, std::string& bytes);

}  // namespace hearth::storage
