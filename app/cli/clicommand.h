#pragma once

#include "core/common/error.h"
#include "core/common/result.h"

#include <QCommandLineParser>
#include <QString>
#include <QStringList>

#include <functional>
#include <vector>

namespace ts::cli {

// Exit codes shared by every subcommand (documented in the README). Plain ints, not an enum: they
// are what main() returns and what std::function<int(...)> carries.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1; // anything else (I/O, internal)
inline constexpr int kExitUsage = 2;   // bad command line
inline constexpr int kExitModel = 3;   // the checkpoint is missing or unusable
inline constexpr int kExitInput = 4;   // an input file or text is unusable

struct CliCommand {
    QString name;
    QString summary;
    // Receives the arguments after the subcommand name (argv[0] is the subcommand itself).
    std::function<int(const QStringList &args)> run;
};

// Every subcommand, in the order `--help` lists them. Each is defined in its own <name>command.cpp.
const std::vector<CliCommand> &allCommands();

// Parses `args` with `parser` (adds --help); on error or --help prints and returns the exit code
// to use, else returns -1 meaning "go on".
int parseOrExit(QCommandLineParser &parser, const QStringList &args, const QString &description);

// Writes an error to stderr as "towersearch-cli: <message>" and returns the exit code for it.
int reportError(const ts::Error &error);

// Writes a usage error to stderr as "towersearch-cli <command>: <message>" and returns kExitUsage.
int usageError(const QString &command, const QString &message);

// The value of an option that takes a positive whole number, `fallback` when it is not given; an
// InvalidArgument error "--<name> needs a positive number" when it is not a number of at least 1.
Result<int> positiveIntOption(const QCommandLineParser &parser, const QCommandLineOption &option,
                              int fallback);

// Writes text to stdout / stderr (UTF-8).
void out(const QString &text);
void err(const QString &text);

// The command factories; each lives in its own .cpp.
CliCommand inspectCommand();
CliCommand tokenizeCommand();
CliCommand convertCommand();
CliCommand embedTextCommand();
CliCommand embedImageCommand();
CliCommand itmCommand();
CliCommand fillMaskCommand();
CliCommand describeCommand();
// The library commands.
CliCommand indexCommand();
CliCommand searchCommand();
CliCommand similarCommand();
CliCommand statusCommand();
CliCommand forgetCommand();
CliCommand rootsCommand();
// Near-duplicates.
CliCommand duplicatesCommand();
// Getting the model from the Hugging Face Hub.
CliCommand modelCommand();

} // namespace ts::cli
