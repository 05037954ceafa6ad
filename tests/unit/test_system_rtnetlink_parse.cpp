// extack_message on NLMSG_ERROR answers laid out as the kernel sends them: with NETLINK_CAP_ACK
// (the request's header only), without it (the whole request echoed), and without a text.
// (The dump parsers are covered against a real kernel in test_system_netlink.cpp and by the
// fuzz_rtnetlink fuzzer.)

#include <doctest/doctest.h>
#include <linux/netlink.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "system/rtnetlink_parse.hpp"

using nicsync::extack_message;

namespace {

/// An NLMSG_ERROR answering a request of `request_length` bytes (its header, then zeros) with
/// `error`: the request echoed whole unless `capped`, then an NLMSGERR_ATTR_MSG attribute holding
/// `text` and its NUL when `text` is given.
std::vector<char> error_answer(int error, uint32_t request_length, bool capped, const char* text) {
  std::vector<char> bytes(NLMSG_HDRLEN);
  auto append = [&bytes](const void* data, size_t size) {
    const auto* from = static_cast<const char*>(data);
    bytes.insert(bytes.end(), from, from + size);
    bytes.resize(NLMSG_ALIGN(bytes.size()));
  };
  nlmsgerr payload{};
  payload.error = error;
  payload.msg.nlmsg_len = request_length;
  payload.msg.nlmsg_type = 24;  // RTM_NEWROUTE
  append(&payload, sizeof(payload));
  if (!capped) {
    std::vector<char> rest(request_length - NLMSG_HDRLEN, '\0');
    append(rest.data(), rest.size());
  }
  if (text != nullptr) {
    nlattr attribute{};
    attribute.nla_len = static_cast<uint16_t>(NLA_HDRLEN + std::strlen(text) + 1);
    attribute.nla_type = NLMSGERR_ATTR_MSG;
    std::vector<char> with_text(NLA_HDRLEN);
    std::memcpy(with_text.data(), &attribute, sizeof(attribute));
    with_text.insert(with_text.end(), text, text + std::strlen(text) + 1);
    append(with_text.data(), with_text.size());
  }
  nlmsghdr header{};
  header.nlmsg_len = static_cast<uint32_t>(bytes.size());
  header.nlmsg_type = NLMSG_ERROR;
  header.nlmsg_flags = static_cast<uint16_t>((capped ? NLM_F_CAPPED : 0) | (text != nullptr ? NLM_F_ACK_TLVS : 0));
  std::memcpy(bytes.data(), &header, sizeof(header));
  return bytes;
}

const nlmsghdr* header_of(const std::vector<char>& bytes) { return reinterpret_cast<const nlmsghdr*>(bytes.data()); }

}  // namespace

TEST_SUITE("system::rtnetlink_parse") {
  TEST_CASE("extack_message: the kernel's text without its final full stop, the echo capped or whole") {
    const auto capped = error_answer(-101, 60, true, "Nexthop has invalid gateway.");
    CHECK(extack_message(header_of(capped)) == "Nexthop has invalid gateway");
    const auto whole = error_answer(-22, 60, false, "Invalid prefix for given prefix length\n");
    CHECK(extack_message(header_of(whole)) == "Invalid prefix for given prefix length");
  }

  TEST_CASE("extack_message: empty without a text, and for an echo longer than the answer") {
    CHECK(extack_message(header_of(error_answer(-17, 60, true, nullptr))) == "");
    CHECK(extack_message(header_of(error_answer(-17, 60, false, nullptr))) == "");
    auto lying = error_answer(-22, 60, false, "Invalid argument");
    nlmsgerr payload{};
    std::memcpy(&payload, lying.data() + NLMSG_HDRLEN, sizeof(payload));
    payload.msg.nlmsg_len = 4000;  // an echo that would end far past the answer
    std::memcpy(lying.data() + NLMSG_HDRLEN, &payload, sizeof(payload));
    CHECK(extack_message(header_of(lying)) == "");
    payload.msg.nlmsg_len = 4;  // shorter than a header
    std::memcpy(lying.data() + NLMSG_HDRLEN, &payload, sizeof(payload));
    CHECK(extack_message(header_of(lying)) == "");
  }
}
