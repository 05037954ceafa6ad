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
}
