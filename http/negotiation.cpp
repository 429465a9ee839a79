#include "http/negotiation.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <string>

namespace hearth::http {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// q-value of a media range's parameters ("q=0.5"); 1 when absent.
double quality(std::string_view params) {
  while (!params.empty()) {
    auto semi = params.find(';');
    auto p = trim(params.substr(0, semi));
    if (p.size() > 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
      std::string v(p.substr(2));
      try {
        return std::stod(v);
      } catch (...) {
        return 1.0;
      }
    }
    if (semi == std::string_view::npos) break;
    params.remove_prefix(semi + 1);
  }
  return 1.0;
}

}  // namespace

bool accepts(std::string_view accept, std::string_view media_type) {
  if (trim(accept).empty()) return true;
  auto slash = media_type.find('/');
  auto type = media_type.substr(0, slash), subtype = media_type.substr(slash + 1);
  while (!accept.empty()) {
    auto comma = accept.find(',');
    auto range = trim(accept.substr(0, comma));
    auto semi = range.find(';');
    auto mr = trim(range.substr(0, semi));
    double q = semi == std::string_view::npos ? 1.0 : quality(range.substr(semi + 1));
    auto s = mr.find('/');
    if (s != std::string_view::npos && q > 0) {
      auto t = mr.substr(0, s), st = mr.substr(s + 1);
      if ((t == "*" && st == "*") || (iequals(t, type) && (st == "*" || iequals(st, subtype))))
        return true;
    }
    if (comma == std::string_view::npos) break;
    accept.remove_prefix(comma + 1);
  }
  return false;
}

bool is_json_media_type(std::string_view content_type) {
  auto mt = trim(content_type.substr(0, content_type.find(';')));
  if (iequals(mt, "application/json")) return true;
  return mt.size() > 17 && iequals(mt.substr(0, 12), "application/") &&
         iequals(mt.substr(mt.size() - 5), "+json");
}

std::optional<unsigned> negotiate(const route& r, const request& req) {
  // An empty `produces`: the handler negotiates (its media type depends on
  // what it serves, e.g. a file of the web directory).
  if (!r.options.produces.empty() && !accepts(req.header("accept"), r.options.produces)) return 406;
  if (r.options.json_body && !is_json_media_type(req.header("content-type"))) return 415;
  return std::nullopt;
}

}  // namespace hearth::http
