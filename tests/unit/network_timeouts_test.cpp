// storage::with_network_timeouts: every network connection hearth opens to
// PostgreSQL carries TCP keepalives and timeouts, so a silent partition fails
// its queries in seconds instead of blocking them for ~15 minutes.

#include <gtest/gtest.h>

#include "storage/pool.hpp"

namespace hearth::testing {
namespace {

using storage::with_network_timeouts;

TEST(network_timeouts, a_uri_gets_every_parameter_in_its_query) {
  EXPECT_EQ(with_network_timeouts("postgresql://u@db.example:5432/hearth"),
            "postgresql://u@db.example:5432/hearth?connect_timeout=5&keepalives=1&"
            "keepalives_idle=5&keepalives_interval=2&keepalives_count=3&tcp_user_timeout=10000");
  EXPECT_EQ(with_network_timeouts("postgres://db/h?sslmode=require"),
            "postgres://db/h?sslmode=require&connect_timeout=5&keepalives=1&keepalives_idle=5&"
            "keepalives_interval=2&keepalives_count=3&tcp_user_timeout=10000");
}

TEST(network_timeouts, a_key_value_string_gets_them_as_keywords) {
  EXPECT_EQ(with_network_timeouts("host=db dbname=hearth"),
            "host=db dbname=hearth connect_timeout=5 keepalives=1 keepalives_idle=5 "
            "keepalives_interval=2 keepalives_count=3 tcp_user_timeout=10000");
}

TEST(network_timeouts, keywords_are_read_as_libpq_reads_them) {
  // Spaces around '=' still name the keyword; an empty query adds no '&'.
  EXPECT_EQ(with_network_timeouts("host=db connect_timeout = 30 keepalives_idle= 60"),
            "host=db connect_timeout = 30 keepalives_idle= 60 keepalives=1 "
            "keepalives_interval=2 keepalives_count=3 tcp_user_timeout=10000");
  EXPECT_EQ(with_network_timeouts("postgresql://db/h?"),
            "postgresql://db/h?connect_timeout=5&keepalives=1&keepalives_idle=5&"
            "keepalives_interval=2&keepalives_count=3&tcp_user_timeout=10000");
  EXPECT_EQ(with_network_timeouts("not a connection string"), "not a connection string");
}

TEST(network_timeouts, what_the_url_sets_itself_is_kept) {
  const auto url = with_network_timeouts(
      "postgresql://db/h?keepalives_idle=60&tcp_user_timeout=0&connect_timeout=30");
  EXPECT_EQ(url,
            "postgresql://db/h?keepalives_idle=60&tcp_user_timeout=0&connect_timeout=30&"
            "keepalives=1&keepalives_interval=2&keepalives_count=3");
}

}  // namespace
}  // namespace hearth::testing
