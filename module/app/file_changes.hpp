#pragma once
/// Turning rendered files into file-system changes, with ownership: nicsync replaces or removes
/// only files that carry its marker, and remembers what it wrote in a state file.

#include <string>
#include <vector>

#include "app/state.hpp"
#include "nicsync/filesystem.hpp"
#include "nicsync/render.hpp"

namespace nicsync {

enum class FileAction {
  unchanged,      ///< already as rendered
  create,         ///< no file there yet
  replace,        ///< nicsync's own file, with other content
  remove,         ///< nicsync's own file, no longer wanted
  skip_foreign,   ///< wanted, but a file nicsync did not write is there: left alone
  skip_existing,  ///< create-only file already present: left alone
};

struct FileChange {
  FileAction action = FileAction::unchanged;
  std::string path;
  std::string before;  ///< current content ("" when absent)
  std::string after;   ///< desired content ("" for remove)
  unsigned mode = 0644;
};

/// Compares the rendered files (and the files of earlier runs) with the disk. Reads only.
Result<std::vector<FileChange>> plan_file_changes(FileSystem& fs, const std::vector<RenderedFile>& files,
                                                  const State& previous);

/// True for actions that write or remove something.
bool changes_disk(FileAction action);

/// Carries out the changes, and `also` (writes of the same transaction, such as the state file),
/// in one FileSystem::commit(): all of them or, on an Error, none.
Result<void> apply_file_changes(FileSystem& fs, const std::vector<FileChange>& changes,
                                const std::vector<FileWrite>& also = {});

/// The files nicsync owns after these changes, sorted.
std::vector<std::string> owned_files(const std::vector<FileChange>& changes);

}  // namespace nicsync
