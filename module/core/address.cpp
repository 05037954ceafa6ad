#include "nicsync/address.hpp"

#include <arpa/inet.h>

#include <cctype>
#include <charconv>
#include <cstdio>
#include <optional>

namespace nicsync {

namespace {


Error invalid(std::string_view text, std::string_view what) {
  return Error{quote(text) + " is not " + std::string(what)};
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Parses a decimal prefix length "0".."max" without leading zeros or sign.
std::optional<int> parse_prefix(std::string_view text, int max) {
  if (text.empty() || text.size() > 3) return std::nullopt;
  if (text.size() > 1 && text[0] == '0') return std::nullopt;
  int value = 0;
  for (char c : text) {
    if (!is_digit(c)) return std::nullopt;
    value = value * 10 + (c - '0');
  }
  if (value > max) return std::nullopt;
  return value;
}

uint32_t mask_of(int prefix) {
  return prefix == 0 ? 0U : ~uint32_t{0} << (32 - prefix);
}

}  // namespace

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i != 0) out += separator;
    out += items[i];
  }
  return out;
}

namespace {

/// Printable ASCII kept, a newline as \n, other bytes as \xHH; `quotes`: '"' and '\' escaped too.
std::string escaped(std::string_view text, size_t limit, bool quotes) {
  std::string out;
  size_t shown = 0;
  for (unsigned char c : text) {
    if (shown == limit) {
      out += "...";
      break;
    }
    if (quotes && (c == '"' || c == '\\')) {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
    ++shown;
  }
  return out;
}

}  // namespace

std::string quote(std::string_view text, size_t limit) { return "\"" + escaped(text, limit, true) + "\""; }

std::string printable(std::string_view text, size_t limit) { return escaped(text, limit, false); }

// ---- IPv4 ----

Result<Ipv4Address> Ipv4Address::parse(std::string_view text) {
  uint32_t value = 0;
  int octets = 0;
  size_t i = 0;
  while (true) {
    size_t start = i;
    unsigned octet = 0;
    while (i < text.size() && is_digit(text[i]) && i - start < 3) {
      octet = octet * 10 + static_cast<unsigned>(text[i] - '0');
      ++i;
    }
    size_t len = i - start;
    if (len == 0 || octet > 255 || (len > 1 && text[start] == '0')) {
      return invalid(text, "an IPv4 address");
    }
    value = (value << 8) | octet;
    ++octets;
    if (octets == 4) break;
    if (i >= text.size() || text[i] != '.') return invalid(text, "an IPv4 address");
    ++i;
  }
  if (i != text.size()) return invalid(text, "an IPv4 address");
  return Ipv4Address(value);
}

std::string Ipv4Address::str() const {
  // std::to_chars, not snprintf: rendering and the state view format thousands of addresses
  // per run, and snprintf cost ~1,700 instructions each (10% of a no-op rerun at 15 x 50).
  char buf[16];
  char* end = buf;
  for (int shift = 24; shift >= 0; shift -= 8) {
    if (shift != 24) *end++ = '.';
    end = std::to_chars(end, buf + sizeof buf, (value_ >> shift) & 0xffU).ptr;
  }
  return std::string(buf, end);
}

Result<Ipv4Cidr> Ipv4Cidr::parse(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) return invalid(text, "an IPv4 CIDR block");
  auto address = Ipv4Address::parse(text.substr(0, slash));
  auto prefix = parse_prefix(text.substr(slash + 1), 32);
  if (!address.ok() || !prefix) return invalid(text, "an IPv4 CIDR block");
  if ((address->to_uint() & ~mask_of(*prefix)) != 0) {
    return Error{quote(text) + " has host bits set (the network is " +
                 containing(*address, *prefix).str() + ")"};
  }
  return Ipv4Cidr(*address, *prefix);
}

Ipv4Cidr Ipv4Cidr::containing(Ipv4Address address, int prefix_length) {
  return Ipv4Cidr(Ipv4Address::from_uint(address.to_uint() & mask_of(prefix_length)), prefix_length);
}

Result<int> Ipv4Cidr::prefix_from_netmask(std::string_view text) {
  auto mask = Ipv4Address::parse(text);
  if (!mask.ok()) return invalid(text, "a netmask");
  uint32_t value = mask->to_uint();
  int prefix = 0;
  while (prefix < 32 && (value & (uint32_t{1} << (31 - prefix))) != 0) ++prefix;
  if (mask_of(prefix) != value) return invalid(text, "a contiguous netmask");
  return prefix;
}

Ipv4Address Ipv4Cidr::netmask() const { return Ipv4Address::from_uint(mask_of(prefix_)); }

Ipv4Address Ipv4Cidr::broadcast() const {
  return Ipv4Address::from_uint(network_.to_uint() | ~mask_of(prefix_));
}

bool Ipv4Cidr::contains(Ipv4Address address) const {
  return (address.to_uint() & mask_of(prefix_)) == network_.to_uint();
}

std::string Ipv4Cidr::str() const { return network_.str() + "/" + std::to_string(prefix_); }

// ---- IPv6 ----

Result<Ipv6Address> Ipv6Address::parse(std::string_view text) {
  if (text.empty() || text.size() > 45) return invalid(text, "an IPv6 address");
  for (char c : text) {
    if (hex_value(c) < 0 && c != ':' && c != '.') return invalid(text, "an IPv6 address");
  }
  std::string copy(text);
  std::array<uint8_t, 16> bytes{};
  if (inet_pton(AF_INET6, copy.c_str(), bytes.data()) != 1) return invalid(text, "an IPv6 address");
  return Ipv6Address(bytes);
}

namespace {

/// Whether bytes [0, count) of the address are zero.
bool zero_prefix(const std::array<uint8_t, 16>& bytes, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    if (bytes[i] != 0) return false;
  }
  return true;
}

}  // namespace

bool Ipv6Address::is_unspecified() const { return zero_prefix(bytes_, 16); }

bool Ipv6Address::is_loopback() const { return zero_prefix(bytes_, 15) && bytes_[15] == 1; }

bool Ipv6Address::is_ipv4_mapped() const {
  return zero_prefix(bytes_, 10) && bytes_[10] == 0xff && bytes_[11] == 0xff;
}

bool Ipv6Address::is_ipv4_compatible() const {
  return zero_prefix(bytes_, 12) && !is_unspecified() && !is_loopback();
}

std::string Ipv6Address::str() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, bytes_.data(), buf, sizeof buf);
  return buf;
}

Result<Ipv6Cidr> Ipv6Cidr::parse(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) return invalid(text, "an IPv6 CIDR block");
  auto address = Ipv6Address::parse(text.substr(0, slash));
  auto prefix = parse_prefix(text.substr(slash + 1), 128);
  if (!address.ok() || !prefix) return invalid(text, "an IPv6 CIDR block");
  for (int bit = *prefix; bit < 128; ++bit) {
    if ((address->bytes()[static_cast<size_t>(bit / 8)] >> (7 - bit % 8)) & 1) {
      return Error{quote(text) + " has host bits set"};
    }
  }
  return Ipv6Cidr(*address, *prefix);
}

Ipv6Cidr Ipv6Cidr::containing(const Ipv6Address& address, int prefix_length) {
  std::array<uint8_t, 16> bytes = address.bytes();
  for (int bit = prefix_length; bit < 128; ++bit) {
    bytes[static_cast<size_t>(bit / 8)] &= static_cast<uint8_t>(~(1u << (7 - bit % 8)));
  }
  return Ipv6Cidr(Ipv6Address(bytes), prefix_length);
}

bool Ipv6Cidr::contains(const Ipv6Address& address) const {
  for (int bit = 0; bit < prefix_; ++bit) {
    size_t byte = static_cast<size_t>(bit / 8);
    int shift = 7 - bit % 8;
    if (((address.bytes()[byte] >> shift) & 1) != ((network_.bytes()[byte] >> shift) & 1)) return false;
  }
  return true;
}

std::string Ipv6Cidr::str() const { return network_.str() + "/" + std::to_string(prefix_); }

// ---- MAC ----

Result<MacAddress> MacAddress::parse(std::string_view text) {
  std::array<uint8_t, 6> bytes{};
  if (text.size() != 17) return invalid(text, "a MAC address");
  for (size_t i = 0; i < 6; ++i) {
    int hi = hex_value(text[i * 3]);
    int lo = hex_value(text[i * 3 + 1]);
    if (hi < 0 || lo < 0 || (i < 5 && text[i * 3 + 2] != ':')) return invalid(text, "a MAC address");
    bytes[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return MacAddress(bytes);
}

std::string MacAddress::str() const {
  // Digit by digit, not snprintf (~3,400 instructions a call): a run formats each NIC's MAC for
  // its requests, its error context and its rendered match.
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(17, ':');
  for (size_t i = 0; i < bytes_.size(); ++i) {
    out[i * 3] = kHex[bytes_[i] >> 4];
    out[i * 3 + 1] = kHex[bytes_[i] & 0xf];
  }
  return out;
}

// ---- names and ids ----

Result<InterfaceName> InterfaceName::parse(std::string_view text) {
  if (text.empty() || text.size() > 15 || text == "." || text == "..") {
    return invalid(text, "an interface name (1-15 characters of A-Z a-z 0-9 _ . -)");
  }
  for (char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      return invalid(text, "an interface name (1-15 characters of A-Z a-z 0-9 _ . -)");
    }
  }
  return InterfaceName(std::string(text));
}

bool natural_less(std::string_view a, std::string_view b) {
  size_t i = 0;
  size_t j = 0;
  while (i < a.size() && j < b.size()) {
    if (is_digit(a[i]) && is_digit(b[j])) {
      size_t i_end = i;
      size_t j_end = j;
      while (i_end < a.size() && is_digit(a[i_end])) ++i_end;
      while (j_end < b.size() && is_digit(b[j_end])) ++j_end;
      std::string_view na = a.substr(i, i_end - i);
      std::string_view nb = b.substr(j, j_end - j);
      while (na.size() > 1 && na[0] == '0') na.remove_prefix(1);
      while (nb.size() > 1 && nb[0] == '0') nb.remove_prefix(1);
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      i = i_end;
      j = j_end;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  if (a.size() - i != b.size() - j) return a.size() - i < b.size() - j;
  return a < b;
}

Result<ResourceId> ResourceId::parse(std::string_view text) {
  if (text.empty() || text.size() > 255) return invalid(text, "a resource id (1-255 characters)");
  for (char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != ':' && c != '-') {
      return invalid(text, "a resource id (only A-Z a-z 0-9 . _ : -)");
    }
  }
  return ResourceId(std::string(text));
}

}  // namespace nicsync
