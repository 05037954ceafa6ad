#include "app/file_changes.hpp"

#include <algorithm>
#include <set>

namespace nicsync {

namespace {

bool owned_by_us(const std::string& content) { return content.rfind(kOwnershipMarker, 0) == 0; }

}  // namespace

Result<std::vector<FileChange>> plan_file_changes(FileSystem& fs, const std::vector<RenderedFile>& files,
                                                  const State& previous) {
  std::vector<FileChange> changes;
  std::set<std::string> wanted;
  for (const RenderedFile& file : files) {
    wanted.insert(file.path);
    NICSYNC_TRY_ASSIGN(std::optional<std::string> current, fs.read_own_file(file.path));
    FileChange change{FileAction::unchanged, file.path, current.value_or(""), file.content, file.mode};
    if (!current) {
      change.action = FileAction::create;
    } else if (file.policy == WritePolicy::create_only) {
      change.action = owned_by_us(*current) && *current != file.content ? FileAction::replace
                      : owned_by_us(*current)                         ? FileAction::unchanged
                                                                      : FileAction::skip_existing;
    } else if (!owned_by_us(*current)) {
      change.action = FileAction::skip_foreign;
    } else if (*current != file.content) {
      change.action = FileAction::replace;
    }
    changes.push_back(std::move(change));
  }
  for (const std::string& path : previous.files) {
    if (wanted.count(path) != 0) continue;
    NICSYNC_TRY_ASSIGN(std::optional<std::string> current, fs.read_own_file(path));
    if (current && owned_by_us(*current)) {
      changes.push_back(FileChange{FileAction::remove, path, *current, "", 0});
    }
  }
  return changes;
}

bool changes_disk(FileAction action) {
  return action == FileAction::create || action == FileAction::replace || action == FileAction::remove;
}

std::vector<std::string> owned_files(const std::vector<FileChange>& changes) {
  std::vector<std::string> files;
  for (const FileChange& change : changes) {
    bool ours = change.action == FileAction::unchanged || change.action == FileAction::create ||
                change.action == FileAction::replace;
    if (ours) files.push_back(change.path);
  }
  std::sort(files.begin(), files.end());
  return files;
}

Result<void> apply_file_changes(FileSystem& fs, const std::vector<FileChange>& changes,
                                const std::vector<FileWrite>& also) {
  std::vector<FileWrite> writes;
  for (const FileChange& change : changes) {
    if (change.action == FileAction::create || change.action == FileAction::replace) {
      writes.push_back(FileWrite{change.path, change.after, change.mode});
    } else if (change.action == FileAction::remove) {
      writes.push_back(FileWrite{change.path, std::nullopt, 0});
    }
  }
  writes.insert(writes.end(), also.begin(), also.end());
  if (writes.empty()) return {};
  return fs.commit(writes);
}

}  // namespace nicsync
