#pragma once

// Runs towersearch-cli for the CLI tests: its exit code (-1 when it crashed or timed out), its
// output, and for a successful `--json` run the parsed document (discarded on a parse error, so a
// test checks `j.is_discarded()`).

#include <nlohmann/json.hpp>

#include <QProcess>
#include <QProcessEnvironment>
#include <QString>
#include <QStringList>

namespace ts::test {

struct CliRun {
    int exitCode = -1;
    QString out, err;
    nlohmann::json j;
};

inline CliRun runCli(const QString &program, const QStringList &args, int timeoutMs,
                     const QProcessEnvironment &env = QProcessEnvironment::systemEnvironment()) {
    QProcess p;
    p.setProcessEnvironment(env);
    p.start(program, args);
    CliRun r;
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished();
        r.err = QStringLiteral("timed out");
        return r;
    }
    r.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = QString::fromUtf8(p.readAllStandardOutput());
    r.err = QString::fromUtf8(p.readAllStandardError());
    if (args.contains(QStringLiteral("--json")) && r.exitCode == 0)
        r.j = nlohmann::json::parse(r.out.toStdString(), nullptr, false);
    return r;
}

} // namespace ts::test
