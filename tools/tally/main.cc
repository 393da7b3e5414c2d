// tally: the command line for people at a terminal. Subcommands:
//   tally replay --data DIR [--upto N]   rebuild all views from the log into a fresh state, print a digest
#include <cinttypes>
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "engine/engine.h"

int main(int argc, char** argv) {
  CLI::App app{"tally: the tally command line"};
  app.require_subcommand(1);

  CLI::App* replay = app.add_subcommand(
      "replay",
      "Rebuild every view from the event log, without changing it (safe while tallyd runs), and print a "
      "digest. Compare it with GET /v1/admin/digest: the same LSN must give the same digest.");
  std::string data_dir = "./tally-data";
  uint64_t upto = UINT64_MAX;
  replay->add_option("--data", data_dir, "data directory")->capture_default_str();
  replay->add_option("--upto", upto, "replay only the first N records (the lsn a server reported)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }

  if (replay->parsed()) {
    auto result = tally::ReplayLog(data_dir, upto);
    if (!result.ok()) {
      std::fprintf(stderr, "tally replay: %s\n", result.status().message().c_str());
      return 1;
    }
    if (upto != UINT64_MAX && result->records < upto) {
      std::fprintf(stderr, "tally replay: the log holds only %" PRIu64 " intact records, not %" PRIu64 "\n",
                   result->records, upto);
      return 1;
    }
    std::printf("lsn %" PRIu64 "\ndigest %016" PRIx64 "\n", result->records, result->digest);
    if (!result->stopped_at.empty())
      std::fprintf(stderr, "tally replay: stopped at %s\n", result->stopped_at.c_str());
  }
  return 0;
}
