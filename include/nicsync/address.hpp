#pragma once
/// Validated network value types. Each is built only through parse(), which says what is wrong
/// with the text; once constructed, a value is always well-formed and prints canonically.

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "nicsync/result.hpp"

namespace nicsync {

/// Quotes untrusted text for an error message: printable ASCII kept, the rest escaped, text longer
/// than `limit` characters cut ("...").
std::string quote(std::string_view text, size_t limit = 64);
/// The same escaping without the quotes, for a message from a library that may carry raw bytes of
/// the input (yaml-cpp's): one printable line.
std::string printable(std::string_view text, size_t limit = 200);

/// The items with `separator` between them ("a, b, c"); "" for none.
std::string join(const std::vector<std::string>& items, std::string_view separator);

/// An IPv4 address in dotted-quad form ("10.0.0.1"); no leading zeros, no short forms.
class Ipv4Address {
 public:
  Ipv4Address() = default;  ///< 0.0.0.0
  static Result<Ipv4Address> parse(std::string_view text);
  static Ipv4Address from_uint(uint32_t host_order) { return Ipv4Address(host_order); }
  uint32_t to_uint() const { return value_; }
  std::string str() const;
  auto operator<=>(const Ipv4Address&) const = default;

 private:
  explicit Ipv4Address(uint32_t value) : value_(value) {}
  uint32_t value_ = 0;
};

/// An IPv4 network "a.b.c.d/n" whose host bits are zero.
class Ipv4Cidr {
 public:
  Ipv4Cidr() = default;  ///< 0.0.0.0/0
  static Result<Ipv4Cidr> parse(std::string_view text);
  /// The network of `address` with `prefix_length` bits (host bits cleared); prefix_length <= 32.
  static Ipv4Cidr containing(Ipv4Address address, int prefix_length);
  /// The prefix length of a contiguous netmask such as "255.255.255.0".
  static Result<int> prefix_from_netmask(std::string_view text);
  Ipv4Address network() const { return network_; }
  int prefix_length() const { return prefix_; }
  Ipv4Address netmask() const;
  /// The last address of the block (all host bits set); network() for a /32.
  Ipv4Address broadcast() const;
  bool contains(Ipv4Address address) const;
  /// Whether every address of `other` is in this block.
  bool contains(const Ipv4Cidr& other) const {
    return other.prefix_ >= prefix_ && contains(other.network_);
  }
  /// Whether the two blocks share an address (one holds the other).
  bool overlaps(const Ipv4Cidr& other) const { return contains(other) || other.contains(*this); }
  bool is_default() const { return prefix_ == 0; }
  std::string str() const;
  auto operator<=>(const Ipv4Cidr&) const = default;

 private:
  Ipv4Cidr(Ipv4Address network, int prefix) : network_(network), prefix_(prefix) {}
  Ipv4Address network_;
  int prefix_ = 0;
};

/// An IPv6 address; prints in RFC 5952 form.
class Ipv6Address {
 public:
  Ipv6Address() = default;  ///< ::
  static Result<Ipv6Address> parse(std::string_view text);
  static Ipv6Address from_bytes(const std::array<uint8_t, 16>& bytes) { return Ipv6Address(bytes); }
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }
  /// fe80::/10: an address valid only on its link (routers' next hops).
  bool is_link_local() const { return bytes_[0] == 0xfe && (bytes_[1] & 0xc0) == 0x80; }
  /// ::
  bool is_unspecified() const;
  /// ::1
  bool is_loopback() const;
  /// ff00::/8
  bool is_multicast() const { return bytes_[0] == 0xff; }
  /// ::ffff:0:0/96, an IPv4 address in IPv6 form.
  bool is_ipv4_mapped() const;
  /// ::/96 other than :: and ::1, the deprecated IPv4-compatible form.
  bool is_ipv4_compatible() const;
  std::string str() const;
  auto operator<=>(const Ipv6Address&) const = default;

 private:
  explicit Ipv6Address(const std::array<uint8_t, 16>& bytes) : bytes_(bytes) {}
  friend class Ipv6Cidr;
  std::array<uint8_t, 16> bytes_{};
};

/// An IPv6 network "x::/n" whose host bits are zero.
class Ipv6Cidr {
 public:
  Ipv6Cidr() = default;  ///< ::/0
  static Result<Ipv6Cidr> parse(std::string_view text);
  Ipv6Address network() const { return network_; }
  int prefix_length() const { return prefix_; }
  /// The network of `address` with `prefix_length` bits (host bits cleared); prefix_length <= 128.
  static Ipv6Cidr containing(const Ipv6Address& address, int prefix_length);
  bool contains(const Ipv6Address& address) const;
  /// Whether every address of `other` is in this block.
  bool contains(const Ipv6Cidr& other) const { return other.prefix_ >= prefix_ && contains(other.network_); }
  /// Whether the two blocks share an address (one holds the other).
  bool overlaps(const Ipv6Cidr& other) const { return contains(other) || other.contains(*this); }
  bool is_default() const { return prefix_ == 0; }
  std::string str() const;
  auto operator<=>(const Ipv6Cidr&) const = default;

 private:
  Ipv6Cidr(Ipv6Address network, int prefix) : network_(network), prefix_(prefix) {}
  Ipv6Address network_;
  int prefix_ = 0;
};

/// An Ethernet MAC address; parses either case, prints lower case "0a:1b:...".
class MacAddress {
 public:
  MacAddress() = default;  ///< 00:00:00:00:00:00
  static Result<MacAddress> parse(std::string_view text);
  const std::array<uint8_t, 6>& bytes() const { return bytes_; }
  std::string str() const;
  auto operator<=>(const MacAddress&) const = default;

 private:
  explicit MacAddress(const std::array<uint8_t, 6>& bytes) : bytes_(bytes) {}
  std::array<uint8_t, 6> bytes_{};
};

/// A Linux interface name: 1-15 characters of [A-Za-z0-9_.-], not "." or "..".
class InterfaceName {
 public:
  static Result<InterfaceName> parse(std::string_view text);
  const std::string& str() const { return name_; }
  auto operator<=>(const InterfaceName&) const = default;

 private:
  explicit InterfaceName(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

/// Natural order of interface names: "eth2" < "eth10" (digit runs compare as numbers).
bool natural_less(std::string_view a, std::string_view b);

/// A cloud resource identifier (instance, ENI, VNIC id): 1-255 characters of [A-Za-z0-9._:-].
class ResourceId {
 public:
  static Result<ResourceId> parse(std::string_view text);
  const std::string& str() const { return id_; }
  auto operator<=>(const ResourceId&) const = default;

 private:
  explicit ResourceId(std::string id) : id_(std::move(id)) {}
  std::string id_;
};

}  // namespace nicsync
