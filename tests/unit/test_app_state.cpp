#include <doctest/doctest.h>

#include "app/state.hpp"
#include "fake_filesystem.hpp"

using namespace nicsync;

TEST_SUITE("app::state") {
  TEST_CASE("state round-trips files and owned addresses, sorted") {
    State state{{"/etc/b", "/etc/a"},
                {{"eth2", *Ipv4Address::parse("10.0.0.9"), 24}, {"eth1", *Ipv4Address::parse("10.0.0.226"), 24}}};
    test::FakeFileSystem fs;
    REQUIRE(save_state(fs, state, State{}).ok());
    CHECK(fs.files[kStatePath].content == R"({
  "addresses": [
    {
      "address": "10.0.0.226/24",
      "dev": "eth1"
    },
    {
      "address": "10.0.0.9/24",
      "dev": "eth2"
    }
  ],
  "files": [
    "/etc/a",
    "/etc/b"
  ],
  "format": "nicsync-state/1"
}
)");
    State loaded = *load_state(fs);
    CHECK(loaded.files == std::vector<std::string>{"/etc/a", "/etc/b"});
    REQUIRE(loaded.addresses.size() == 2);
    CHECK(loaded.addresses[0].dev == "eth1");
    CHECK(loaded.addresses[0].prefix_length == 24);
  }

  TEST_CASE("an unchanged state is not rewritten") {
    test::FakeFileSystem fs;
    State state{{"/etc/a"}, {}};
    REQUIRE(save_state(fs, state, state).ok());
    CHECK(fs.files_written.empty());
  }

  TEST_CASE("no state file is an empty state") {
    test::FakeFileSystem fs;
    CHECK(load_state(fs)->files.empty());
  }

  TEST_CASE("a corrupt state file is an error naming it") {
    test::FakeFileSystem fs;
    fs.add(kStatePath, "{not json");
    CHECK(load_state(fs).error().message ==
          "/var/lib/nicsync/state.json: not a nicsync state file (expected {\"files\": [...]})");
    fs.add(kStatePath, R"({"files": ["relative/path"]})");
    CHECK(load_state(fs).error().message == "/var/lib/nicsync/state.json: \"relative/path\" is not an absolute path");
    fs.add(kStatePath, R"({"files": [], "addresses": [{"dev": "eth1; reboot", "address": "10.0.0.1/24"}]})");
    CHECK(load_state(fs).error().message ==
          "/var/lib/nicsync/state.json: \"eth1; reboot\" is not an interface name (1-15 characters of A-Z a-z 0-9 _ . -)");
  }

  TEST_CASE("IPv6 owned addresses round-trip, after the IPv4 ones") {
    State state{{}, {{"eth1", *Ipv6Address::parse("2600:1f16:292:100::20"), 128},
                     {"eth1", *Ipv4Address::parse("10.0.0.226"), 24}}};
    State sorted = *parse_state(render_state(state));
    REQUIRE(sorted.addresses.size() == 2);
    CHECK(sorted.addresses[0] == OwnedAddress{"eth1", *Ipv4Address::parse("10.0.0.226"), 24});
    CHECK(sorted.addresses[1] == OwnedAddress{"eth1", *Ipv6Address::parse("2600:1f16:292:100::20"), 128});
    CHECK(render_state(state).find("\"address\": \"2600:1f16:292:100::20/128\"") != std::string::npos);
    CHECK(parse_state(R"({"files": [], "addresses": [{"dev": "eth1", "address": "2600::1"}]})")->addresses ==
          std::vector<OwnedAddress>{{"eth1", *Ipv6Address::parse("2600::1"), 128}});
    auto bad = parse_state(R"({"files": [], "addresses": [{"dev": "eth1", "address": "2600::1/129"}]})");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().message == "\"2600::1/129\" is not an address with a prefix length");
  }

  TEST_CASE("a state file written before IPv6 still parses") {
    // As nicsync-state/1 was written by IPv4-only releases (and by the first, without "format").
    for (const char* text : {R"({"format": "nicsync-state/1", "files": ["/etc/netplan/90-nicsync.yaml"],
                                 "addresses": [{"dev": "eth1", "address": "10.0.0.226/24"},
                                               {"dev": "eth0", "address": "10.0.0.58/32"}]})",
                             R"({"files": ["/etc/netplan/90-nicsync.yaml"],
                                 "addresses": [{"dev": "eth1", "address": "10.0.0.226/24"},
                                               {"dev": "eth0", "address": "10.0.0.58"}]})"}) {
      auto state = parse_state(text);
      REQUIRE_MESSAGE(state.ok(), state.error().message);
      CHECK(state->files == std::vector<std::string>{"/etc/netplan/90-nicsync.yaml"});
      CHECK(state->addresses == std::vector<OwnedAddress>{{"eth0", *Ipv4Address::parse("10.0.0.58"), 32},
                                                          {"eth1", *Ipv4Address::parse("10.0.0.226"), 24}});
    }
  }

  TEST_CASE("what is not a state file, in the order the reasons are given") {
    const std::string not_state = "not a nicsync state file (expected {\"files\": [...]})";
    for (const char* text : {"", "[]", "\"files\"", R"({"addresses": []})", R"({"files": {}})", R"({"files": null})",
                             R"({"files": []} {})", R"({"files": [], "addresses": [{"dev": "eth1"])",
                             R"({"files": ["relative"], "addresses": "x", "other": [})"}) {
      CAPTURE(text);
      auto state = parse_state(text);
      REQUIRE_FALSE(state.ok());
      CHECK(state.error().message == not_state);
    }
    auto error_of = [](const char* text) { return parse_state(text).error().message; };
    CHECK(error_of(R"({"files": ["/etc/a", 1, "relative"]})") == "\"files\" holds a value that is not a path");
    CHECK(error_of(R"({"files": ["/etc/a", "/etc/../b", [1]]})") == "\"/etc/../b\" is not an absolute path");
    // A bad file is reported before a bad address, wherever each stands.
    CHECK(error_of(R"({"addresses": "x", "files": ["relative"]})") == "\"relative\" is not an absolute path");
    CHECK(error_of(R"({"files": [], "addresses": {"dev": "eth1"}})") == "\"addresses\" is not a list");
    CHECK(error_of(R"({"files": [], "addresses": null})") == "\"addresses\" is not a list");
    const std::string not_owned = "\"addresses\" holds an entry without \"dev\" and \"address\"";
    CHECK(error_of(R"({"files": [], "addresses": ["eth1 10.0.0.1"]})") == not_owned);
    CHECK(error_of(R"({"files": [], "addresses": [{"dev": "eth1"}]})") == not_owned);
    CHECK(error_of(R"({"files": [], "addresses": [{"dev": "eth1", "address": 167772161}]})") == not_owned);
    CHECK(error_of(R"({"files": [], "addresses": [{"dev": "eth1", "address": "10.0.0.1/33"},
                                                   {"dev": "eth2"}]})") ==
          "\"10.0.0.1/33\" is not an address with a prefix length");
  }

  TEST_CASE("of repeated keys the last counts; keys and values the state does not use are skipped") {
    auto state = parse_state(R"({"files": ["relative"], "files": ["/etc/b", "/etc/a"],
                                 "extra": {"files": [1], "addresses": [{"dev": 1}]},
                                 "addresses": "x",
                                 "addresses": [{"note": {"dev": "x", "address": [1]}, "dev": 1, "dev": "eth1",
                                                "address": "10.0.0.1/24", "since": 3}]})");
    REQUIRE_MESSAGE(state.ok(), state.error().message);
    CHECK(state->files == std::vector<std::string>{"/etc/a", "/etc/b"});
    CHECK(state->addresses == std::vector<OwnedAddress>{{"eth1", *Ipv4Address::parse("10.0.0.1"), 24}});
    CHECK_FALSE(parse_state(R"({"files": ["/etc/a"], "files": 1})").ok());
    CHECK(parse_state(R"({"files": [], "addresses": [{"dev": "eth1", "address": "10.0.0.1", "dev": null}]})")
              .error()
              .message == "\"addresses\" holds an entry without \"dev\" and \"address\"");
  }
}
