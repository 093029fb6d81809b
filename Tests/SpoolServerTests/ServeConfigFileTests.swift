import Foundation
import SpoolServer
import SpoolTesting
import Testing

@Suite("spool serve --config")
struct ServeConfigFileTests {
    @Test func keysAreTheOptionNamesAndPathsResolveAgainstTheFile() throws {
        let dir = try TemporaryDirectory("config")
        defer { dir.remove() }
        let json = #"{"data": "state", "pipelines": "/opt/pipes", "token-file": "~/token", "virtual-slots": 4, "time-limit": 90.5, "drop-folder": false}"#
        try json.write(toFile: dir.file("spool.json"), atomically: true, encoding: .utf8)
        let file = try ServeConfigFile.load(path: dir.file("spool.json"))
        #expect(file.data == URL(fileURLWithPath: dir.file("state")).standardizedFileURL.path)
        #expect(file.pipelines == "/opt/pipes")
        #expect(file.tokenFile == FileManager.default.homeDirectoryForCurrentUser.path + "/token")
        #expect(file.virtualSlots == 4 && file.timeLimit == 90.5 && file.dropFolder == false)
        #expect(file.gpus == nil && file.listen == nil)
    }

    @Test(arguments: [
        (#"{"gpu": "none"}"#, "unknown setting(s) gpu"),
        (#"{"crf": "high"}"#, #"wrong type at "crf""#),
        (#"["gpus"]"#, "must hold a JSON object"),
        (#"{"gpus": none}"#, "not valid JSON"),
    ])
    func badFilesSayWhatIsWrong(json: String, message: String) throws {
        #expect {
            try ServeConfigFile.decode(Data(json.utf8), name: "x.json")
        } throws: { error in
            "\(error)".contains(message) && "\(error)".contains("x.json")
        }
    }

    /// Every option of `spool serve` can be set in the file, and the shipped sample is valid.
    @Test func theFileCoversEveryServeOptionAndTheSampleLoads() throws {
        let help = try runProcess([CLITests.spool, "serve", "--help"]).stdoutText
        let options = Set(help.matches(of: /--([a-z][a-z-]+)/).map { String($0.output.1) })
            .subtracting(["config", "help", "version", "show-webhook-secret"])
        let expected = Set(options.map { $0 == "no-drop-folder" ? "drop-folder" : $0 })
        #expect(expected == Set(ServeConfigFile.keys))
        let sample = URL(fileURLWithPath: CLITests.pipelines).deletingLastPathComponent().appendingPathComponent("Samples/spool.json").path
        let file = try ServeConfigFile.load(path: sample)
        #expect(file.pipelines == CLITests.pipelines)
    }
}
