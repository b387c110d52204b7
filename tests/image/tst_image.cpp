// One executable for core/image, several test classes (Qt Test runs one class per qExec).
#include <QGuiApplication>

int runImageProcessorTests(int argc, char **argv);
int runImageDecoderTests(int argc, char **argv);
int runExifReaderTests(int argc, char **argv);

int main(int argc, char **argv) {
    QGuiApplication app(argc, argv);
    int failures = 0;
    failures += runImageProcessorTests(argc, argv);
    failures += runImageDecoderTests(argc, argv);
    failures += runExifReaderTests(argc, argv);
    return failures == 0 ? 0 : 1;
}
