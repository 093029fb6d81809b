import Foundation
import SpoolServer
import SpoolTesting
import Testing

@Suite("spool serve --config")
struct ServeConfigFileTests {
    typealias S = ServeSettings

    @Test func keysAreTheOptionNamesAndPathsResolveAgainstTheFile() throws {
        let dir = try TemporaryDirectory("config")
        defer { dir.remove() }
        let json = #"{"data": "state", "pipelines": "/opt/pipes", "token-file": "~/token", "virtual-slots": 4, "time-limit": 90.5, "drop-folder": false}"#
        try json.write(toFile: dir.file("spool.json"), atomically: true, encoding: .utf8)
        let file = try ServeSettings.load(file: dir.file("spool.json"))
        #expect(file[S.data] == URL(fileURLWithPath: dir.file("state")).standardizedFileURL.path)
        #expect(file[S.pipelines] == "/opt/pipes")
        #expect(file[S.tokenFile] == FileManager.default.homeDirectoryForCurrentUser.path + "/token")
        #expect(file[S.virtualSlots] == 4 && file[S.timeLimit] == 90.5 && file[S.dropFolder] == false)
        #expect(file[S.gpus] == nil && file[S.listen] == nil)
    }

    @Test(arguments: [
        (#"{"gpu": "none"}"#, "unknown setting(s) gpu"),
        (#"{"crf": "high"}"#, #"wrong type at "crf""#),
        (#"["gpus"]"#, "must hold a JSON object"),
        (#"{"gpus": none}"#, "not valid JSON"),
    ])
    func badFilesSayWhatIsWrong(json: String, message: String) throws {
        #expect {
            try SettingValues.decode(Data(json.utf8), name: "x.json", settings: ServeSettings.all)
        } throws: { error in
            "\(error)".contains(message) && "\(error)".contains("x.json")
        }
    }

    /// Every option of `spool serve` can be set in the file, and the shipped sample is valid.
    @Test func theFileCoversEveryServeOptionAndTheSampleLoads() throws {
        let help = try runProcess([CLITests.spool, "serve", "--help"]).stdoutText
        let options = Set(help.matches(of: /--([a-z][a-z-]+)/).map { String($0.output.1) })
            .subtracting(["config", "help", "version", "show-webhook-secret", "SETTING"])
        let expected = Set(options.map { $0 == "no-drop-folder" ? "drop-folder" : $0 })
        #expect(expected == Set(ServeSettings.all.map(\.name)))
        let sample = URL(fileURLWithPath: CLITests.pipelines).deletingLastPathComponent().appendingPathComponent("Samples/spool.json").path
        let file = try ServeSettings.load(file: sample)
        #expect(file[S.pipelines] == CLITests.pipelines)
    }

    /// The README's table of settings is the one `spool serve --settings-table` prints from the
    /// settings' declarations, which `--help` lists too.
    @Test func theReadmeListsTheSettingsAsDeclared() throws {
        let table = try runProcess([CLITests.spool, "serve", "--settings-table"]).stdoutText
        let readme = try String(contentsOfFile: Repository.root + "/README.md", encoding: .utf8)
        let begin = "<!-- settings: spool serve --settings-table -->\n", end = "\n<!-- settings end -->"
        let start = try #require(readme.range(of: begin), "the README marks its settings table")
        let stop = try #require(readme.range(of: end, range: start.upperBound..<readme.endIndex))
        #expect(String(readme[start.upperBound..<stop.lowerBound]) == table.trimmingCharacters(in: .newlines),
                "regenerate the README's table with `spool serve --settings-table`")
    }

    @Test func theCommandLineWinsOverTheFileAndBadValuesSayWhich() throws {
        let file = try SettingValues.decode(Data(#"{"lease-seconds": 10, "warm": ["a"], "drop-folder": true}"#.utf8), name: "f", settings: S.all)
        let given = try S.parse(arguments: ["--lease-seconds=12.5", "--warm", "b", "--warm", "c", "--no-drop-folder"])
        let values = file.overridden(by: given)
        #expect(values[S.leaseSeconds] == 12.5 && values[S.warm] == ["b", "c"] && values[S.dropFolder] == false)
        for (arguments, message) in [
            (["--lease-seconds", "soon"], "--lease-seconds takes a number, not soon"),
            (["--virtual-slots"], "--virtual-slots N needs a value"),
            (["--gpu", "none"], "unknown option --gpu"),
            (["--drop-folder"], "did you mean --no-drop-folder?"),
        ] {
            #expect { try S.parse(arguments: arguments) } throws: { "\($0)".contains(message) }
        }
    }
}
