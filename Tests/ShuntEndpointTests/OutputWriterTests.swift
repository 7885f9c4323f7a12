import Foundation
@testable import ShuntEndpoint
import ShuntOutput
import ShuntTestSupport
import Testing

/// The request log leaves the event loop: queued with a bound, written by a thread of its own, and
/// a terminal that stops reading never stops the caller.
@Suite struct OutputWriterTests {
    static func text(_ chunks: [OutputQueue.Chunk]) -> [String] {
        chunks.map { "\($0.target == .standardOutput ? "out" : "err"):" + String(decoding: $0.bytes, as: UTF8.self) }
    }

    static let notice: OutputWriter.Notice = { (.standardError, "dropped \($0)") }

    @Test func linesForOneTargetAreJoinedAndTheOrderIsKept() {
        var queue = OutputQueue(maxPendingBytes: 100)
        queue.append("a", to: .standardOutput, droppable: true)
        queue.append("b", to: .standardOutput, droppable: true)
        queue.append("trouble", to: .standardError, droppable: false)
        queue.append("c", to: .standardOutput, droppable: true)
        #expect(queue.pendingBytes == 2 + 2 + 8 + 2)
        let taken = queue.take(notice: Self.notice)
        #expect(Self.text(taken) == ["out:a\nb\n", "err:trouble\n", "out:c\n"])
        #expect(queue.isEmpty && queue.pendingBytes == 0)
        #expect(queue.isEmpty)
    }

    /// The bound at its edge: a line that fills the queue exactly is kept, one octet more is not;
    /// the dropped lines are said where they were missed, once.
    @Test func requestLinesPastTheBoundAreDroppedAndCounted() {
        var queue = OutputQueue(maxPendingBytes: 10)
        let kept1 = queue.append("12345678", to: .standardOutput, droppable: true)   // 9 octets
        #expect(kept1)
        let kept2 = queue.append("", to: .standardOutput, droppable: true)           // 10: exactly full
        #expect(kept2)
        let kept3 = queue.append("", to: .standardOutput, droppable: true)
        #expect(!kept3)
        let kept4 = queue.append("x", to: .standardOutput, droppable: true)
        #expect(!kept4)
        #expect(queue.dropped == 2)
        // Lines that are not request lines are few and always kept.
        let kept5 = queue.append("tunnel lost", to: .standardError, droppable: false)
        #expect(kept5)
        let taken = queue.take(notice: Self.notice)
        #expect(Self.text(taken) == ["out:12345678\n\n", "err:tunnel lost\ndropped 2\n"])
        #expect(queue.dropped == 0)
        let kept6 = queue.append("123456789", to: .standardOutput, droppable: true)
        #expect(kept6)
    }

    @Test func theWriterWritesEverythingInOrderThroughAPipe() throws {
        let pipe = Pipe()
        let writer = OutputWriter(standardOutput: pipe.fileHandleForWriting.fileDescriptor,
                                  standardError: pipe.fileHandleForWriting.fileDescriptor, notice: Self.notice)
        for index in 0..<1_000 {
            writer.write("line \(index)", to: index % 100 == 0 ? .standardError : .standardOutput, droppable: index % 100 != 0)
        }
        #expect(writer.flush(timeout: .seconds(10)))
        writer.close()
        try pipe.fileHandleForWriting.close()
        let lines = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n")
        #expect(lines == (0..<1_000).map { "line \($0)"[...] })
        #expect(writer.dropped == 0)
    }

    /// Nobody reads the pipe: writing stays instant, the queue stays at its bound, and once the
    /// reader comes the lines that did not fit are said.
    @Test func aTerminalThatStopsReadingDoesNotStopTheCaller() throws {
        let pipe = Pipe()
        let descriptor = pipe.fileHandleForWriting.fileDescriptor
        let writer = OutputWriter(maxPendingBytes: 4_096, standardOutput: descriptor, standardError: descriptor, notice: Self.notice)
        let line = String(repeating: "x", count: 99)
        // 10 MiB of lines against a pipe that holds 64 KiB: a writer that blocked would hang here;
        // this one drops most of them.
        var kept = 0
        var attempts = 100_000
        for _ in 0..<100_000 where writer.write(line, to: .standardOutput, droppable: true) { kept += 1 }
        #expect(writer.dropped == 100_000 - kept)
        #expect(writer.dropped > 90_000)
        // The writer rests between writes, so the pipe may not be full yet: more lines until it is,
        // and a flush then gives up at its timeout.
        var full = false
        for _ in 0..<200 where !full {
            for _ in 0..<1_000 where writer.write(line, to: .standardOutput, droppable: true) { kept += 1 }
            attempts += 1_000
            full = !writer.flush(timeout: .milliseconds(50))
        }
        #expect(full, "the pipe is full; the flush gives up at its timeout")
        #expect(writer.dropped == attempts - kept)
        // Reading everything, the writer drains and says what it dropped.
        let collected = PipeReader(pipe.fileHandleForReading)
        #expect(writer.flush(timeout: .seconds(30)))
        writer.close()
        try pipe.fileHandleForWriting.close()
        let text = String(decoding: collected.wait(), as: UTF8.self)
        let lines = text.split(separator: "\n")
        #expect(lines.filter { $0 == line }.count == kept)
        // Said each time the writer caught up after drops: the counts add up, and the last line says the last of them.
        let said = lines.filter { $0.hasPrefix("dropped ") }.compactMap { Int($0.dropFirst("dropped ".count)) }
        #expect(said.reduce(0, +) == writer.dropped)
        #expect(lines.last?.hasPrefix("dropped ") == true)
    }

    @Test func aClosedOutputEndsTheWritingNotTheCaller() throws {
        signal(SIGPIPE, SIG_IGN)
        let pipe = Pipe()
        try pipe.fileHandleForReading.close()
        let descriptor = pipe.fileHandleForWriting.fileDescriptor
        let writer = OutputWriter(standardOutput: descriptor, standardError: descriptor, notice: Self.notice)
        for index in 0..<100 { writer.write("line \(index)", to: .standardOutput, droppable: true) }
        #expect(writer.flush(timeout: .seconds(10)), "a broken output counts as flushed")
        writer.close()
    }

    /// After a write the thread rests `batchInterval`: a line queued meanwhile waits for the rest to
    /// end (it does not wake the thread), and `flush` ends the rest at once. With a rest of a minute,
    /// the second line is not in the pipe 300 ms after it was queued, and `flush` brings it well
    /// within its own 20 s.
    @Test func aLineQueuedWhileTheWriterRestsWaitsForTheRestOrAFlush() throws {
        let pipe = Pipe()
        let descriptor = pipe.fileHandleForWriting.fileDescriptor
        let writer = OutputWriter(standardOutput: descriptor, standardError: descriptor, batchInterval: .seconds(60), notice: Self.notice)
        let reading = pipe.fileHandleForReading.fileDescriptor
        writer.write("first", to: .standardOutput, droppable: true)
        var buffer = [UInt8](repeating: 0, count: 256)
        let first = read(reading, &buffer, buffer.count)  // blocks until the first write
        #expect(first > 0 && String(decoding: buffer[0..<max(first, 0)], as: UTF8.self) == "first\n")
        writer.write("second", to: .standardOutput, droppable: true)
        var poller = pollfd(fd: reading, events: Int16(POLLIN), revents: 0)
        #expect(poll(&poller, 1, 300) == 0, "the second line must wait for the end of the rest")
        #expect(writer.flush(timeout: .seconds(20)))
        let second = read(reading, &buffer, buffer.count)
        #expect(second > 0 && String(decoding: buffer[0..<max(second, 0)], as: UTF8.self) == "second\n")
        writer.close()
    }

    @Test func theNoticeSaysTheCountInEitherFormat() {
        let text = EndpointPrinter(format: .text, service: "orders", local: "127.0.0.1:3000")
        let json = EndpointPrinter(format: .json, service: "orders", local: "127.0.0.1:3000")
        #expect(text.droppedNotice(1) == (.standardError, "shunt: 1 request line not shown: the output did not keep up"))
        #expect(text.droppedNotice(7).line == "shunt: 7 request lines not shown: the output did not keep up")
        let notice = json.droppedNotice(7)
        #expect(notice.target == .standardOutput)
        let object = try? JSONSerialization.jsonObject(with: Data(notice.line.utf8)) as? [String: Any]
        #expect(object?["event"] as? String == "lines-dropped")
        #expect(object?["count"] as? Int == 7)
    }
}
