// core/common/nativepath: file names that are not valid UTF-8 kept losslessly (Python's
// surrogateescape), printed on one line, opened and turned into URLs; checked against the real
// filesystem with names created through ::open.
#include "core/common/nativepath.h"

#include <QTemporaryDir>
#include <QtTest>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

using namespace ts;

class TestNativePath : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void roundTripsEveryByteSequence_data();
    void roundTripsEveryByteSequence();
    void validUtf8IsOrdinaryText();
    void printablePathIsOneLine_data();
    void printablePathIsOneLine();
    void opensStatsAndResolvesRawNamesOnDisk();
    void fileUrlKeepsTheBytes();
};

void TestNativePath::roundTripsEveryByteSequence_data() {
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<bool>("raw");
    QTest::newRow("ascii") << QByteArray("/photos/a.jpg") << false;
    QTest::newRow("utf-8 accents and emoji")
        << QByteArray("/caf\xc3\xa9/\xf0\x9f\x93\xb7.jpg") << false;
    QTest::newRow("latin-1 e acute") << QByteArray("/caf\xe9.jpg") << true;
    QTest::newRow("latin-1 e grave") << QByteArray("/caf\xe8.jpg") << true;
    QTest::newRow("truncated sequence at the end") << QByteArray("/a\xc3") << true;
    QTest::newRow("overlong slash") << QByteArray("/\xc0\xaf.jpg") << true;
    QTest::newRow("utf-8 encoded surrogate") << QByteArray("/\xed\xb3\xa9.jpg") << true;
    QTest::newRow("above U+10FFFF") << QByteArray("/\xf4\x90\x80\x80") << true;
    QTest::newRow("cp437 box drawing") << QByteArray("/\xc9\xcd\xbb.png") << true;
    QTest::newRow("newline in a name") << QByteArray("/two\nlines.jpg") << false;
    QByteArray all;
    for (int b = 1; b < 256; ++b)
        all += char(b);
    QTest::newRow("every byte but NUL") << all << true;
}

void TestNativePath::roundTripsEveryByteSequence() {
    QFETCH(QByteArray, bytes);
    QFETCH(bool, raw);
    const QString path = pathFromNative(bytes);
    QCOMPARE(nativePath(path), bytes);
    QCOMPARE(isRawPath(path), raw);
}

void TestNativePath::validUtf8IsOrdinaryText() {
    // Two names that differ only in an invalid byte stay two strings; valid text decodes as Qt
    // does.
    QVERIFY(pathFromNative("/caf\xe9.jpg") != pathFromNative("/caf\xe8.jpg"));
    QCOMPARE(pathFromNative("/caf\xc3\xa9.jpg"), QString::fromUtf8("/caf\xc3\xa9.jpg"));
    QCOMPARE(pathFromNative("/caf\xe9.jpg"),
             QStringLiteral("/caf") + QChar(0xDCE9) + QStringLiteral(".jpg"));
    // A real surrogate pair (U+1F4F7) is text, not escaped bytes.
    const QString camera = QString::fromUtf8("\xf0\x9f\x93\xb7");
    QVERIFY(!isRawPath(camera));
    QCOMPARE(nativePath(camera), QByteArray("\xf0\x9f\x93\xb7"));
}

void TestNativePath::printablePathIsOneLine_data() {
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("printed");
    QTest::newRow("plain") << QByteArray("/p/a b.jpg") << QStringLiteral("/p/a b.jpg");
    QTest::newRow("invalid byte") << QByteArray("/p/caf\xe9.jpg")
                                  << QStringLiteral("/p/caf\\xe9.jpg");
    QTest::newRow("newline and tab")
        << QByteArray("/p/a\nb\t.jpg") << QStringLiteral("/p/a\\x0ab\\x09.jpg");
    QTest::newRow("backslash stays unambiguous")
        << QByteArray("/p/a\\xe9.jpg") << QStringLiteral("/p/a\\\\xe9.jpg");
    QTest::newRow("C1 control (valid UTF-8 U+0085)")
        << QByteArray("/p/\xc2\x85.jpg") << QStringLiteral("/p/\\u0085.jpg");
    QTest::newRow("accents unchanged")
        << QByteArray("/p/caf\xc3\xa9.jpg") << QString::fromUtf8("/p/caf\xc3\xa9.jpg");
}

void TestNativePath::printablePathIsOneLine() {
    QFETCH(QByteArray, bytes);
    QFETCH(QString, printed);
    QCOMPARE(printablePath(pathFromNative(bytes)), printed);
}

void TestNativePath::opensStatsAndResolvesRawNamesOnDisk() {
    QTemporaryDir tmp;
    const QByteArray dir = QFile::encodeName(tmp.path());
    const QByteArray names[] = {dir + "/caf\xe9.jpg", dir + "/caf\xe8.jpg"};
    for (const QByteArray &name : names) {
        const int fd = ::open(name.constData(), O_CREAT | O_WRONLY | O_EXCL, 0644);
        if (fd < 0 && (errno == EILSEQ || errno == EINVAL))
            QSKIP(qPrintable(
                QStringLiteral("the filesystem of %1 refuses names that are not valid UTF-8: %2")
                    .arg(tmp.path(), QString::fromLocal8Bit(std::strerror(errno)))));
        QVERIFY2(fd >= 0, std::strerror(errno));
        QCOMPARE(::write(fd, name.constData(), size_t(name.size())), ssize_t(name.size()));
        ::close(fd);
    }
    for (const QByteArray &name : names) {
        const QString path = pathFromNative(name);
        QVERIFY(!QFileInfo::exists(path)); // what Qt alone cannot do
        const NativeFileInfo info = statNative(path);
        QVERIFY(info.exists && info.isFile && !info.isDir);
        QCOMPARE(info.size, qint64(name.size()));
        QFile file;
        QString why;
        QVERIFY2(openNativeFile(file, path, QIODevice::ReadOnly, &why), qPrintable(why));
        QCOMPARE(file.readAll(), name); // each file holds its own name: the right one was opened
        QCOMPARE(canonicalNativePath(path),
                 pathFromNative(QFile::encodeName(QFileInfo(tmp.path()).canonicalFilePath()) +
                                name.mid(dir.size())));
    }
    QFile missing;
    QString why;
    QVERIFY(
        !openNativeFile(missing, pathFromNative(dir + "/gone\xff.jpg"), QIODevice::ReadOnly, &why));
    QVERIFY2(!why.isEmpty(), "a failed open says why");
    QVERIFY(!statNative(pathFromNative(dir + "/gone\xff.jpg")).exists);
}

void TestNativePath::fileUrlKeepsTheBytes() {
    const QUrl raw = fileUrl(pathFromNative("/photos/caf\xe9 1.jpg"));
    QCOMPARE(raw.toEncoded(), QByteArray("file:///photos/caf%E9%201.jpg"));
    QCOMPARE(QByteArray::fromPercentEncoding(raw.toEncoded().mid(7)),
             QByteArray("/photos/caf\xe9 1.jpg"));
    QCOMPARE(fileUrl(QString::fromUtf8("/photos/caf\xc3\xa9.jpg")),
             QUrl::fromLocalFile(QString::fromUtf8("/photos/caf\xc3\xa9.jpg")));
}

QTEST_GUILESS_MAIN(TestNativePath)
#include "tst_nativepath.moc"
