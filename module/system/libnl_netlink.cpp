// Netlink over one rtnetlink socket of nicsync's own. Reads are raw rtnetlink dumps, one per object
// kind and family, whose messages system/rtnetlink_parse.hpp parses straight into KernelLink,
// KernelAddress, KernelRoute and KernelRule: libnl's object parser allocated an object and an address
// per message and cost a no-op rerun a quarter of its user time. Changes are built by libnl-route-3's
// request builders and sent in batches: up to kNetlinkBatchSize messages in one sendmsg, each with its
// own sequence number and NLM_F_ACK, their answers collected by sequence number with recvmmsg (no
// MSG_PEEK), each error with the kernel's errno and extended-ack text. Link changes are single
// messages on the same path.
//
// libnl-route-3 (and libnl-3, its dependency) is loaded with dlopen() when the first change is built:
// a run that changes nothing in the kernel (a plan, a no-op rerun, a boot with everything in place)
// never loads it. Loading both costs an empty C program 0.2 ms and 33 page faults; nicsync --version
// went from 2.34 M to 2.18 M instructions and from 185 to 157 page faults (tests/bench/HISTORY.md,
// ninth round).

#include <arpa/inet.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/vlan.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <variant>
#include <vector>

#include "nicsync/netlink.hpp"
#include "system/rtnetlink_parse.hpp"
#include "system/shared_library.hpp"

namespace nicsync {

namespace {

// The libnl functions nicsync calls, each a member of Libnl named after it.
#define NICSYNC_LIBNL_FUNCTIONS(X)                                                                                  \
  X(nl_geterror) X(nlmsg_hdr) X(nlmsg_free) X(nl_addr_build) X(nl_addr_put) X(nl_addr_set_prefixlen)               \
  X(rtnl_link_alloc) X(rtnl_link_put) X(rtnl_link_set_ifindex) X(rtnl_link_set_flags) X(rtnl_link_set_name)          \
  X(rtnl_link_set_link) X(rtnl_link_set_addr) X(rtnl_link_vlan_alloc) X(rtnl_link_vlan_set_id)                       \
  X(rtnl_link_build_change_request) X(rtnl_link_build_add_request) X(rtnl_link_build_delete_request)                 \
  X(rtnl_addr_alloc) X(rtnl_addr_put) X(rtnl_addr_set_ifindex) X(rtnl_addr_set_family) X(rtnl_addr_set_local)        \
  X(rtnl_addr_set_prefixlen) X(rtnl_addr_set_flags) X(rtnl_addr_build_add_request) X(rtnl_addr_build_delete_request) \
  X(rtnl_route_alloc) X(rtnl_route_put) X(rtnl_route_set_family) X(rtnl_route_set_dst) X(rtnl_route_set_type)        \
  X(rtnl_route_set_table) X(rtnl_route_set_protocol) X(rtnl_route_set_scope) X(rtnl_route_set_priority)              \
  X(rtnl_route_nh_alloc) X(rtnl_route_nh_free) X(rtnl_route_nh_set_ifindex) X(rtnl_route_nh_set_gateway)             \
  X(rtnl_route_nh_set_flags) X(rtnl_route_add_nexthop) X(rtnl_route_build_add_request)                               \
  X(rtnl_route_build_del_request) X(rtnl_rule_alloc) X(rtnl_rule_put) X(rtnl_rule_set_family) X(rtnl_rule_set_prio)  \
  X(rtnl_rule_set_table) X(rtnl_rule_set_action) X(rtnl_rule_set_protocol) X(rtnl_rule_set_src)                      \
  X(rtnl_rule_build_add_request) X(rtnl_rule_build_delete_request)

struct Libnl {
#define NICSYNC_LIBNL_MEMBER(name) decltype(&::name) name = nullptr;
  NICSYNC_LIBNL_FUNCTIONS(NICSYNC_LIBNL_MEMBER)
#undef NICSYNC_LIBNL_MEMBER
  /// Why the functions cannot be used ("libnl-route-3.so.200: cannot open shared object file: ..."
  /// or "libnl-route-3.so.200 has no ..."); empty when all were found.
  std::string error;
};

/// libnl-route-3, loaded at the first call (thread-safe). dlsym() on its handle also finds the
/// functions of libnl-3, which it depends on.
const Libnl& libnl() {
  static const Libnl loaded = [] {
    Libnl lib;
    static SharedLibrary library("libnl-route-3.so.200");
#define NICSYNC_LIBNL_RESOLVE(name) library.resolve(#name, lib.name);
    NICSYNC_LIBNL_FUNCTIONS(NICSYNC_LIBNL_RESOLVE)
#undef NICSYNC_LIBNL_RESOLVE
    lib.error = library.error();
    return lib;
  }();
  return loaded;
}

/// unique_ptr deleter calling a libnl release function (only ever given objects libnl made, so
/// libnl is loaded by then).
template <auto Release>
struct Releaser {
  template <typename T>
  void operator()(T* pointer) const {
    (libnl().*Release)(pointer);
  }
};

using NlAddrPtr = std::unique_ptr<nl_addr, Releaser<&Libnl::nl_addr_put>>;
using LinkPtr = std::unique_ptr<rtnl_link, Releaser<&Libnl::rtnl_link_put>>;
using AddrPtr = std::unique_ptr<rtnl_addr, Releaser<&Libnl::rtnl_addr_put>>;
using RoutePtr = std::unique_ptr<rtnl_route, Releaser<&Libnl::rtnl_route_put>>;
using NexthopPtr = std::unique_ptr<rtnl_nexthop, Releaser<&Libnl::rtnl_route_nh_free>>;
using RulePtr = std::unique_ptr<rtnl_rule, Releaser<&Libnl::rtnl_rule_put>>;
using MessagePtr = std::unique_ptr<nl_msg, Releaser<&Libnl::nlmsg_free>>;

/// The receive buffer asked for (the kernel caps it at net.core.rmem_max and doubles it): a batch's
/// answers are queued all at once, and each costs the socket about 1 KiB of buffer, however short.
/// An answer that does not fit is dropped, and the next read fails with ENOBUFS.
constexpr int kReceiveBufferBytes = 1 << 20;
/// The send buffer: a batch goes in one datagram, which must fit it (kNetlinkBatchSize messages of
/// at most a few hundred bytes). libnl's default, which nicsync used before it had its own socket.
constexpr int kSendBufferBytes = 32 * 1024;
/// Room for one answer: an NLMSG_ERROR with the extended ack (and, on kernels without
/// NETLINK_CAP_ACK, the echoed request).
constexpr size_t kAnswerBytes = 4096;
/// Room for one datagram of a dump: the kernel fills up to about 32 KiB (less than the receive
/// buffer) with whole messages. nicsync asks for no link extensions (VF lists), so no single
/// message comes near that.
constexpr size_t kDumpDatagramBytes = 64 * 1024;
/// How often a dump is started when the kernel marks each one inconsistent (NLM_F_DUMP_INTR).
constexpr int kDumpAttempts = 3;
/// The largest fixed header a dump request carries (RTM_GETLINK's).
constexpr size_t kLargestDumpHeader = std::max({sizeof(ifinfomsg), sizeof(ifaddrmsg), sizeof(rtmsg), sizeof(fib_rule_hdr)});

/// What the kernel said in its last NLMSG_ERROR: the errno and the extended-ack message, if any.
struct KernelError {
  int error_number = 0;
  std::string extack;
};

/// The reason of a kernel error: its errno text, with the extended-ack message when there is one.
std::string reason_of(const KernelError& error) {
  std::string reason = std::generic_category().message(error.error_number);
  if (!error.extack.empty()) reason += " (" + error.extack + ")";
  return reason;
}

/// The reason of an answer to a change, or of its absence (`lost`: the errno that ended the
/// exchange early).
std::string reason_of(const std::optional<KernelError>& answer, int lost) {
  return answer ? reason_of(*answer) : "no answer from the kernel (" + std::generic_category().message(lost) + ")";
}

/// How a change reads in messages: "add address 10.0.0.226/32 dev eth1 noprefixroute".
std::string change_text(const ObjectChange& change, const std::vector<KernelLink>& names) {
  const std::string verb = change.kind == ChangeKind::add ? "add " : "delete ";
  return std::visit(
      [&](const auto& object) -> std::string {
        using T = std::decay_t<decltype(object)>;
        if constexpr (std::is_same_v<T, KernelAddress>) {
          return verb + "address " + describe(object, names);
        } else if constexpr (std::is_same_v<T, KernelRoute>) {
          return verb + "route " + describe(object, names);
        } else {
          return verb + "rule " + describe(object);
        }
      },
      change.object);
}

/// The address families nicsync reads and changes, in the order reads list them.
constexpr std::array<int, 2> kFamilies{AF_INET, AF_INET6};

uint8_t family_of(IpFamily family) { return family == IpFamily::v4 ? AF_INET : AF_INET6; }

/// An nl_addr for an address with the given prefix length.
NlAddrPtr make_nl_addr(const IpAddress& address, int prefix_length) {
  const Libnl& nl = libnl();
  NlAddrPtr result;
  if (const Ipv4Address* v4 = address.v4()) {
    uint32_t network_order = htonl(v4->to_uint());
    result.reset(nl.nl_addr_build(AF_INET, &network_order, sizeof(network_order)));
  } else {
    result.reset(nl.nl_addr_build(AF_INET6, address.v6()->bytes().data(), address.v6()->bytes().size()));
  }
  if (!result) throw std::bad_alloc();
  nl.nl_addr_set_prefixlen(result.get(), prefix_length);
  return result;
}

class LibnlNetlink : public Netlink {
 public:
  LibnlNetlink() = default;
  LibnlNetlink(const LibnlNetlink&) = delete;
  LibnlNetlink& operator=(const LibnlNetlink&) = delete;
  ~LibnlNetlink() override {
    if (fd_ >= 0) ::close(fd_);
  }

  /// Opens the rtnetlink socket, in the calling thread's network namespace; an Error naming the
  /// system's reason when that fails.
  Result<void> open() {
    fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd_ < 0) return Error{"netlink: cannot open an rtnetlink socket: " + std::generic_category().message(errno)};
    sockaddr_nl local{};  // port 0: the kernel picks one
    local.nl_family = AF_NETLINK;
    if (::bind(fd_, reinterpret_cast<const sockaddr*>(&local), sizeof(local)) != 0) {
      return Error{"netlink: cannot bind the rtnetlink socket: " + std::generic_category().message(errno)};
    }
    // Ask for the kernel's explanation with each error and leave out the echo of our request.
    // Older kernels refuse these options; errors then carry only the errno.
    int on = 1;
    setsockopt(fd_, SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof(on));
    setsockopt(fd_, SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof(on));
    if (setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &kSendBufferBytes, sizeof(kSendBufferBytes)) != 0 ||
        setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &kReceiveBufferBytes, sizeof(kReceiveBufferBytes)) != 0) {
      return Error{"netlink: cannot size the socket's buffers: " + std::generic_category().message(errno)};
    }
    return {};
  }

  Result<std::vector<KernelLink>> links() override {
    ifinfomsg header{};
    header.ifi_family = AF_UNSPEC;
    std::vector<KernelLink> result;
    NICSYNC_TRY(dump(RTM_GETLINK, RTM_NEWLINK, &header, sizeof(header), "read links", [&](const nlmsghdr* message) {
      if (std::optional<KernelLink> link = parse_link_message(message)) result.push_back(std::move(*link));
    }, [&] { result.clear(); }));
    return result;
  }

  Result<std::vector<KernelAddress>> addresses() override {
    std::vector<KernelAddress> result;
    for (int family : kFamilies) {
      ifaddrmsg header{};
      header.ifa_family = static_cast<uint8_t>(family);
      NICSYNC_TRY(read_family(RTM_GETADDR, RTM_NEWADDR, header, "read addresses", family, parse_address_message, result));
    }
    return result;
  }

  Result<std::vector<KernelRoute>> routes() override {
    std::vector<KernelRoute> result;
    for (int family : kFamilies) {
      rtmsg header{};
      header.rtm_family = static_cast<uint8_t>(family);  // rtm_table 0: every table
      NICSYNC_TRY(read_family(RTM_GETROUTE, RTM_NEWROUTE, header, "read routes", family, parse_route_message, result));
    }
    return result;
  }

  Result<std::vector<KernelRule>> rules() override {
    std::vector<KernelRule> result;
    for (int family : kFamilies) {
      fib_rule_hdr header{};
      header.family = static_cast<uint8_t>(family);
      NICSYNC_TRY(read_family(RTM_GETRULE, RTM_NEWRULE, header, "read rules", family, parse_rule_message, result));
    }
    return result;
  }

  Result<void> add_address(const KernelAddress& address) override {
    return apply_one({ChangeKind::add, address});
  }
  Result<void> delete_address(const KernelAddress& address) override {
    return apply_one({ChangeKind::remove, address});
  }
  Result<void> add_route(const KernelRoute& route) override { return apply_one({ChangeKind::add, route}); }
  Result<void> delete_route(const KernelRoute& route) override { return apply_one({ChangeKind::remove, route}); }
  Result<void> add_rule(const KernelRule& rule) override { return apply_one({ChangeKind::add, rule}); }
  Result<void> delete_rule(const KernelRule& rule) override { return apply_one({ChangeKind::remove, rule}); }

  std::vector<Result<void>> apply(const std::vector<ObjectChange>& changes) override {
    std::vector<Result<void>> results;
    results.reserve(changes.size());
    for (size_t start = 0; start < changes.size(); start += kNetlinkBatchSize) {
      const size_t end = std::min(changes.size(), start + kNetlinkBatchSize);
      if (!round_trip(changes, start, end, results)) break;
    }
    return results;
  }

  Result<void> set_link_up(int ifindex) override {
    auto what = [&] { return "set link " + name_of(ifindex) + " up"; };
    NICSYNC_TRY_ASSIGN(const Libnl* nl, loaded(what));
    LinkPtr original(nl->rtnl_link_alloc());
    LinkPtr change(nl->rtnl_link_alloc());
    if (!original || !change) throw std::bad_alloc();
    nl->rtnl_link_set_ifindex(original.get(), ifindex);
    nl->rtnl_link_set_flags(change.get(), IFF_UP);
    nl_msg* message = nullptr;
    const int built = nl->rtnl_link_build_change_request(original.get(), change.get(), 0, &message);
    return request(built, message, what);
  }

  Result<void> add_vlan(const std::string& name, int parent_ifindex, int vlan_id,
                        const MacAddress& mac) override {
    auto what = [&] { return "add vlan " + describe_vlan(name, name_of(parent_ifindex), vlan_id, mac); };
    if (vlan_id < 1 || vlan_id > 4094) return Error{what() + ": VLAN id outside 1-4094"};
    NICSYNC_TRY_ASSIGN(const Libnl* nl, loaded(what));
    LinkPtr link(nl->rtnl_link_vlan_alloc());
    NlAddrPtr address(nl->nl_addr_build(AF_LLC, mac.bytes().data(), mac.bytes().size()));
    if (!link || !address) throw std::bad_alloc();
    nl->rtnl_link_set_name(link.get(), name.c_str());
    nl->rtnl_link_set_link(link.get(), parent_ifindex);
    nl->rtnl_link_set_addr(link.get(), address.get());  // takes its own reference
    int error = nl->rtnl_link_vlan_set_id(link.get(), static_cast<uint16_t>(vlan_id));
    if (error < 0) return Error{what() + ": " + nl->nl_geterror(error)};
    nl_msg* message = nullptr;
    const int built = nl->rtnl_link_build_add_request(link.get(), NLM_F_CREATE | NLM_F_EXCL, &message);
    return request(built, message, what);
  }

  Result<void> delete_link(int ifindex) override {
    std::string name = name_of(ifindex);  // read first: once deleted the link has no name
    auto what = [&] { return "delete link " + name; };
    NICSYNC_TRY_ASSIGN(const Libnl* nl, loaded(what));
    LinkPtr link(nl->rtnl_link_alloc());
    if (!link) throw std::bad_alloc();
    nl->rtnl_link_set_ifindex(link.get(), ifindex);
    nl_msg* message = nullptr;
    const int built = nl->rtnl_link_build_delete_request(link.get(), &message);
    return request(built, message, what);
  }

 private:
  /// Appends the objects of one family's dump to `result`, each message parsed by `parse`.
  template <typename Header, typename Object>
  Result<void> read_family(uint16_t request, uint16_t answer, const Header& header, const char* what, int family,
                           std::optional<Object> (*parse)(const nlmsghdr*, int), std::vector<Object>& result) {
    const size_t before = result.size();
    return dump(
        request, answer, &header, sizeof(header), what,
        [&](const nlmsghdr* message) {
          if (std::optional<Object> object = parse(message, family)) result.push_back(std::move(*object));
        },
        [&] { result.resize(before); });
  }

  /// Sends a dump request of type `request` and hands every `answer` message of the reply to
  /// `on_message`. When the kernel marks the reply inconsistent (NLM_F_DUMP_INTR: the objects
  /// changed while it was being written), calls `restart` and dumps again, up to kDumpAttempts
  /// times in all.
  Result<void> dump(uint16_t request, uint16_t answer, const void* header, size_t size, const char* what,
                    const std::function<void(const nlmsghdr*)>& on_message, const std::function<void()>& restart) {
    if (size > kLargestDumpHeader) throw std::logic_error("netlink: a dump request header larger than expected");
    const int fd = fd_;
    for (int attempt = 1;; ++attempt) {
      const uint32_t seq = next_seq_++;
      std::array<char, NLMSG_SPACE(kLargestDumpHeader)> buffer{};
      auto* message = reinterpret_cast<nlmsghdr*>(buffer.data());
      message->nlmsg_len = static_cast<uint32_t>(NLMSG_LENGTH(size));
      message->nlmsg_type = request;
      message->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
      message->nlmsg_seq = seq;
      std::memcpy(NLMSG_DATA(message), header, size);
      sockaddr_nl kernel{};
      kernel.nl_family = AF_NETLINK;
      while (sendto(fd, buffer.data(), message->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) < 0) {
        const int error = errno;
        if (error != EINTR) return Error{std::string(what) + ": " + std::generic_category().message(error)};
      }
      bool interrupted = false;
      Result<bool> done = false;
      while (done.ok() && !*done) done = receive_dump(fd, seq, answer, on_message, interrupted);
      if (!done.ok()) return Error{std::string(what) + ": " + done.error().message};
      if (!interrupted) return {};
      if (attempt == kDumpAttempts) {
        return Error{std::string(what) + ": the kernel's list kept changing while it was read (" +
                     std::to_string(kDumpAttempts) + " attempts)"};
      }
      restart();
    }
  }

  /// Reads one datagram of the dump with sequence number `seq`: true once its NLMSG_DONE came, an
  /// Error with the kernel's reason when it answered with one.
  Result<bool> receive_dump(int fd, uint32_t seq, uint16_t answer, const std::function<void(const nlmsghdr*)>& on_message,
                            bool& interrupted) {
    dump_buffer_.resize(kDumpDatagramBytes);
    ssize_t got = 0;
    while ((got = recv(fd, dump_buffer_.data(), dump_buffer_.size(), MSG_TRUNC)) < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      drain(fd);  // ENOBUFS: part of the dump was dropped; what is left of it is no use
      return Error{std::generic_category().message(error)};
    }
    if (static_cast<size_t>(got) > dump_buffer_.size()) {
      drain(fd);
      return Error{"a dump message did not fit the " + std::to_string(dump_buffer_.size()) + "-byte buffer"};
    }
    int remaining = static_cast<int>(got);
    for (auto* message = reinterpret_cast<const nlmsghdr*>(dump_buffer_.data()); message_fits(message, remaining);
         message = next_message(message, remaining)) {
      if (message->nlmsg_seq != seq) continue;  // a late answer to something earlier
      if ((message->nlmsg_flags & NLM_F_DUMP_INTR) != 0) interrupted = true;
      if (message->nlmsg_type == NLMSG_ERROR || message->nlmsg_type == NLMSG_DONE) {
        // Both carry an int error first (NLMSG_DONE: what ended the dump, usually 0).
        int error = 0;
        if (message->nlmsg_len >= NLMSG_LENGTH(sizeof(error))) std::memcpy(&error, NLMSG_DATA(message), sizeof(error));
        if (error != 0) {
          KernelError kernel{-error, ""};
          if (message->nlmsg_type == NLMSG_ERROR) kernel.extack = extack_message(message);
          drain(fd);
          return Error{reason_of(kernel)};
        }
        return true;
      }
      if (message->nlmsg_type == answer) on_message(message);
    }
    return false;
  }

  Result<void> apply_one(ObjectChange change) {
    std::vector<Result<void>> results = apply({std::move(change)});
    return results.front();  // one change: always exactly one result
  }

  /// Sends changes[start, end) in one sendmsg and appends one result per change sent to `results`
  /// (all of them, unless one cannot be built: those before it, then its Error). False when one
  /// failed.
  bool round_trip(const std::vector<ObjectChange>& changes, size_t start, size_t end,
                  std::vector<Result<void>>& results) {
    std::string request;  // the messages back to back, each padded to NLMSG_ALIGNTO
    std::optional<Error> unbuilt;
    const uint32_t first_seq = next_seq_;
    size_t count = 0;
    for (; start + count < end; ++count) {
      Result<MessagePtr> message = build_message(changes[start + count]);
      if (!message.ok()) {
        unbuilt = message.error();
        break;
      }
      append_message(request, message->get());
    }
    std::vector<std::optional<KernelError>> answers(count);
    const int lost = count == 0 ? 0 : exchange(request, first_seq, answers);
    std::optional<std::vector<KernelLink>> names_read;  // read once, when a message needs them
    bool all_ok = !unbuilt;
    for (size_t i = 0; i < count; ++i) {
      const std::optional<KernelError>& answer = answers[i];
      if (answer && answer->error_number == 0) {
        results.emplace_back();
        continue;
      }
      all_ok = false;
      if (!names_read) names_read = names();
      results.emplace_back(Error{change_text(changes[start + i], *names_read) + ": " + reason_of(answer, lost),
                                 answer ? answer->error_number : 0});
    }
    if (unbuilt) results.emplace_back(*unbuilt);
    return all_ok;
  }

  /// Sends `request`, whose messages carry the sequence numbers first_seq, first_seq + 1, ...,
  /// and puts the kernel's answer to message i into answers[i]. Returns 0, or the errno that ended
  /// the exchange early (ENOBUFS: the receive buffer overflowed and answers were dropped); the
  /// answers missing then are unknown.
  int exchange(const std::string& request, uint32_t first_seq, std::vector<std::optional<KernelError>>& answers) {
    const int fd = fd_;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    iovec out{const_cast<char*>(request.data()), request.size()};
    msghdr message{};
    message.msg_name = &kernel;
    message.msg_namelen = sizeof(kernel);
    message.msg_iov = &out;
    message.msg_iovlen = 1;
    while (sendmsg(fd, &message, 0) < 0) {
      if (errno != EINTR) return errno;
    }
    // The kernel has handled every message by now and queued one datagram per answer;
    // recvmmsg takes all that are queued in one call.
    size_t pending = answers.size();
    const size_t slots = std::min(pending, kNetlinkBatchSize);
    receive_buffer_.resize(kNetlinkBatchSize * kAnswerBytes);
    std::vector<iovec> in(slots);
    std::vector<mmsghdr> datagrams(slots);
    while (pending > 0) {
      for (size_t i = 0; i < slots; ++i) {
        in[i] = iovec{receive_buffer_.data() + i * kAnswerBytes, kAnswerBytes};
        datagrams[i] = mmsghdr{};
        datagrams[i].msg_hdr.msg_iov = &in[i];
        datagrams[i].msg_hdr.msg_iovlen = 1;
      }
      const int got = recvmmsg(fd, datagrams.data(), static_cast<unsigned>(std::min(pending, slots)), MSG_WAITFORONE,
                               nullptr);
      if (got < 0) {
        if (errno == EINTR) continue;
        const int error = errno;
        drain(fd);
        return error;
      }
      for (size_t d = 0; d < static_cast<size_t>(got); ++d) {
        if ((datagrams[d].msg_hdr.msg_flags & MSG_TRUNC) != 0) {
          drain(fd);
          return EMSGSIZE;
        }
        int remaining = static_cast<int>(datagrams[d].msg_len);
        for (auto* header = static_cast<const nlmsghdr*>(in[d].iov_base); message_fits(header, remaining);
             header = next_message(header, remaining)) {
          const uint32_t index = header->nlmsg_seq - first_seq;
          if (header->nlmsg_type != NLMSG_ERROR || index >= answers.size() || answers[index] ||
              header->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) {
            continue;
          }
          const auto* error = static_cast<const nlmsgerr*>(NLMSG_DATA(header));
          answers[index] = KernelError{-error->error, error->error == 0 ? "" : extack_message(header)};
          --pending;
        }
      }
    }
    return 0;
  }

  /// Discards what is queued on the socket, so that later reads do not take stale answers.
  void drain(int fd) {
    std::array<char, kAnswerBytes> discard{};
    while (recv(fd, discard.data(), discard.size(), MSG_DONTWAIT) >= 0 || errno == EINTR || errno == ENOBUFS) {
    }
  }

  /// The request message of a change, as libnl's rtnl_*_add() and rtnl_*_delete() send it:
  /// additions with NLM_F_EXCL.
  Result<MessagePtr> build_message(const ObjectChange& change) {
    NICSYNC_TRY_ASSIGN(const Libnl* nl, loaded([&] { return change_text(change, names()); }));
    const bool add = change.kind == ChangeKind::add;
    nl_msg* message = nullptr;
    int error = 0;
    if (const auto* address = std::get_if<KernelAddress>(&change.object)) {
      NICSYNC_TRY_ASSIGN(AddrPtr object, make_address(*address));
      error = add ? nl->rtnl_addr_build_add_request(object.get(), NLM_F_EXCL, &message)
                  : nl->rtnl_addr_build_delete_request(object.get(), 0, &message);
    } else if (const auto* route = std::get_if<KernelRoute>(&change.object)) {
      NICSYNC_TRY_ASSIGN(RoutePtr object, make_route(*route));
      error = add ? nl->rtnl_route_build_add_request(object.get(), NLM_F_EXCL, &message)
                  : nl->rtnl_route_build_del_request(object.get(), 0, &message);
    } else {
      NICSYNC_TRY_ASSIGN(RulePtr object, make_rule(std::get<KernelRule>(change.object)));
      error = add ? nl->rtnl_rule_build_add_request(object.get(), NLM_F_EXCL, &message)
                  : nl->rtnl_rule_build_delete_request(object.get(), 0, &message);
    }
    if (error < 0) return Error{change_text(change, names()) + ": " + nl->nl_geterror(error)};
    return MessagePtr(message);
  }

  /// libnl, or an Error "<what>: <why libnl cannot be loaded>".
  template <typename Describe>
  static Result<const Libnl*> loaded(Describe what) {
    const Libnl& nl = libnl();
    if (!nl.error.empty()) return Error{what() + ": " + nl.error};
    return &nl;
  }

  /// Appends a built message to a batch: the next sequence number, and NLM_F_REQUEST and
  /// NLM_F_ACK (every message is answered, success or not), padded to NLMSG_ALIGNTO.
  void append_message(std::string& request, nl_msg* message) {
    nlmsghdr* header = libnl().nlmsg_hdr(message);
    header->nlmsg_seq = next_seq_++;
    header->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    request.append(reinterpret_cast<const char*>(header), header->nlmsg_len);
    request.resize(NLMSG_ALIGN(request.size()), '\0');
  }

  /// Sends one message libnl built (`built`: the builder's result) and waits for its answer:
  /// success, or an Error "<what>: <the kernel's reason, or libnl's>".
  template <typename Describe>
  Result<void> request(int built, nl_msg* message, Describe what) {
    MessagePtr owned(message);
    if (built < 0) return Error{what() + ": " + libnl().nl_geterror(built)};
    std::string bytes;
    const uint32_t seq = next_seq_;
    append_message(bytes, owned.get());
    std::vector<std::optional<KernelError>> answers(1);
    const int lost = exchange(bytes, seq, answers);
    if (answers[0] && answers[0]->error_number == 0) return {};
    return Error{what() + ": " + reason_of(answers[0], lost), answers[0] ? answers[0]->error_number : 0};
  }

  Result<AddrPtr> make_address(const KernelAddress& address) {
    const Libnl& nl = libnl();
    AddrPtr object(nl.rtnl_addr_alloc());
    if (!object) throw std::bad_alloc();
    nl.rtnl_addr_set_ifindex(object.get(), address.ifindex);
    nl.rtnl_addr_set_family(object.get(), family_of(address.address.family()));
    NlAddrPtr local = make_nl_addr(address.address, address.prefix_length);
    int error = nl.rtnl_addr_set_local(object.get(), local.get());
    if (error < 0) return Error{"address " + text(address) + ": " + nl.nl_geterror(error)};
    nl.rtnl_addr_set_prefixlen(object.get(), address.prefix_length);
    // libnl sends IFA_FLAGS (32 bits) whenever a flag above the 8-bit header field is set.
    if (address.noprefixroute) nl.rtnl_addr_set_flags(object.get(), IFA_F_NOPREFIXROUTE);
    if (address.nodad) nl.rtnl_addr_set_flags(object.get(), IFA_F_NODAD);
    return object;
  }

  Result<RoutePtr> make_route(const KernelRoute& route) {
    const Libnl& nl = libnl();
    RoutePtr object(nl.rtnl_route_alloc());
    if (!object) throw std::bad_alloc();
    const bool local = route.type == RouteType::local;
    int error = nl.rtnl_route_set_family(object.get(), family_of(route.destination.family()));
    NlAddrPtr destination = make_nl_addr(route.destination.network(), route.destination.prefix_length());
    if (error >= 0) error = nl.rtnl_route_set_dst(object.get(), destination.get());
    if (error >= 0) error = nl.rtnl_route_set_type(object.get(), local ? RTN_LOCAL : RTN_UNICAST);
    if (error < 0) return Error{"route " + text(route) + ": " + nl.nl_geterror(error)};
    nl.rtnl_route_set_table(object.get(), route.table);
    nl.rtnl_route_set_protocol(object.get(), route.protocol);
    // IPv4 refuses a local route of a wider scope than host; IPv6 has no route scopes.
    uint8_t scope = route.scope == RouteScope::link ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
    if (local && route.destination.family() == IpFamily::v4) scope = RT_SCOPE_HOST;
    nl.rtnl_route_set_scope(object.get(), scope);
    if (route.metric) nl.rtnl_route_set_priority(object.get(), *route.metric);
    NexthopPtr nexthop(nl.rtnl_route_nh_alloc());
    if (!nexthop) throw std::bad_alloc();
    if (route.ifindex != 0) nl.rtnl_route_nh_set_ifindex(nexthop.get(), route.ifindex);
    if (route.gateway) {
      NlAddrPtr gateway = make_nl_addr(*route.gateway, route.gateway->bits());
      nl.rtnl_route_nh_set_gateway(nexthop.get(), gateway.get());  // takes its own reference
    }
    if (route.onlink) nl.rtnl_route_nh_set_flags(nexthop.get(), RTNH_F_ONLINK);
    nl.rtnl_route_add_nexthop(object.get(), nexthop.release());  // the route owns it from here
    return object;
  }

  Result<RulePtr> make_rule(const KernelRule& rule) {
    const Libnl& nl = libnl();
    RulePtr object(nl.rtnl_rule_alloc());
    if (!object) throw std::bad_alloc();
    nl.rtnl_rule_set_family(object.get(), family_of(rule.family));
    nl.rtnl_rule_set_prio(object.get(), rule.priority);
    nl.rtnl_rule_set_table(object.get(), rule.table);
    nl.rtnl_rule_set_action(object.get(), FR_ACT_TO_TBL);
    int error = nl.rtnl_rule_set_protocol(object.get(), rule.protocol);
    if (error >= 0 && rule.from) {
      NlAddrPtr source = make_nl_addr(rule.from->network(), rule.from->prefix_length());
      error = nl.rtnl_rule_set_src(object.get(), source.get());
    }
    if (error < 0) return Error{"rule " + describe(rule) + ": " + nl.nl_geterror(error)};
    return object;
  }

  /// Link names for messages; read only when a message needs them.
  std::vector<KernelLink> names() {
    auto read = links();
    return read.ok() ? *read : std::vector<KernelLink>{};
  }
  std::string name_of(int ifindex) {
    for (const KernelLink& link : names()) {
      if (link.ifindex == ifindex) return link.name.str();
    }
    return "if" + std::to_string(ifindex);
  }
  std::string text(const KernelAddress& address) { return describe(address, names()); }
  std::string text(const KernelRoute& route) { return describe(route, names()); }

  int fd_ = -1;             ///< the rtnetlink socket
  uint32_t next_seq_ = 1;   ///< the sequence number of the next message
  std::vector<char> receive_buffer_;  ///< kNetlinkBatchSize answers of kAnswerBytes each
  std::vector<char> dump_buffer_;     ///< one datagram of a dump
};

}  // namespace

Result<std::unique_ptr<Netlink>> make_libnl_netlink() {
  auto netlink = std::make_unique<LibnlNetlink>();
  NICSYNC_TRY(netlink->open());
  return std::unique_ptr<Netlink>(std::move(netlink));
}

}  // namespace nicsync
