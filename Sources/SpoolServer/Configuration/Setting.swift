import Foundation
import SpoolCore

/// One setting of `spool serve`, declared once (see ``ServeSettings``): its name (the command
/// line's `--name` and the config file's key), its type, its default and its help. The command
/// line, the config file reader, `--help` and the README's table all come from these.
public struct Setting: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case text
        case integer
        case number
        /// `--name` sets it; `inverted`: `--no-name` clears it (on by default). In a config
        /// file, `true` or `false` either way.
        case flag(inverted: Bool)
        /// `--name` given once per value; an array of strings in a config file.
        case list
    }

    public let name: String
    public let kind: Kind
    /// What the value is, in `--help` and the README: `MIB`, `SECONDS`, `auto|none|0,2`.
    public let placeholder: String?
    /// The default, in words.
    public let defaultText: String
    public let help: String
    /// A path: relative ones in a config file are taken from the file's folder.
    public let isPath: Bool

    public init(_ name: String, _ kind: Kind, placeholder: String? = nil, default defaultText: String, help: String, isPath: Bool = false) {
        self.name = name
        self.kind = kind
        self.placeholder = placeholder
        self.defaultText = defaultText
        self.help = help
        self.isPath = isPath
    }

    /// How it is written on the command line: `--raw-backlog MIB`, `--no-drop-folder`.
    public var usage: String {
        switch kind {
        case .flag(let inverted): inverted ? "--no-\(name)" : "--\(name)"
        default: "--\(name)" + (placeholder.map { " \($0)" } ?? "")
        }
    }
}

/// A value a setting was given.
public enum SettingValue: Sendable, Hashable {
    case text(String)
    case integer(Int)
    case number(Double)
    case flag(Bool)
    case list([String])
}

/// A setting with the Swift type its value is read as.
public struct SettingKey<Value: SettingValueType>: Sendable {
    public let setting: Setting

    public init(_ name: String, placeholder: String? = nil, default defaultText: String, help: String, isPath: Bool = false, inverted: Bool = false) {
        let kind: Setting.Kind = Value.kind == .flag(inverted: false) ? .flag(inverted: inverted) : Value.kind
        setting = Setting(name, kind, placeholder: placeholder, default: defaultText, help: help, isPath: isPath)
    }
}

/// The types a setting's value may have.
public protocol SettingValueType: Sendable {
    static var kind: Setting.Kind { get }
    init?(_ value: SettingValue)
}

extension String: SettingValueType {
    public static var kind: Setting.Kind { .text }
    public init?(_ value: SettingValue) {
        guard case .text(let text) = value else { return nil }
        self = text
    }
}

extension Int: SettingValueType {
    public static var kind: Setting.Kind { .integer }
    public init?(_ value: SettingValue) {
        guard case .integer(let number) = value else { return nil }
        self = number
    }
}

extension Double: SettingValueType {
    public static var kind: Setting.Kind { .number }
    public init?(_ value: SettingValue) {
        switch value {
        case .number(let number): self = number
        case .integer(let number): self = Double(number)
        default: return nil
        }
    }
}

extension Bool: SettingValueType {
    public static var kind: Setting.Kind { .flag(inverted: false) }
    public init?(_ value: SettingValue) {
        guard case .flag(let on) = value else { return nil }
        self = on
    }
}

extension Array: SettingValueType where Element == String {
    public static var kind: Setting.Kind { .list }
    public init?(_ value: SettingValue) {
        guard case .list(let items) = value else { return nil }
        self = items
    }
}

/// Why settings cannot be used: a bad command line (`spool` exits 64) or a bad config file.
public struct SettingsError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The settings given, from a config file and the command line (which wins), read by key.
public struct SettingValues: Sendable {
    public let settings: [Setting]
    public private(set) var given: [String: SettingValue] = [:]

    public init(settings: [Setting], given: [String: SettingValue] = [:]) {
        self.settings = settings
        self.given = given
    }

    public subscript<Value>(key: SettingKey<Value>) -> Value? {
        given[key.setting.name].flatMap(Value.init)
    }

    /// Sets a value, as a test or a caller's default would.
    public mutating func set<Value>(_ key: SettingKey<Value>, _ value: SettingValue) {
        given[key.setting.name] = value
    }

    /// These values with `other`'s over them: a list given in `other` replaces this one's.
    public func overridden(by other: SettingValues) -> SettingValues {
        SettingValues(settings: settings, given: given.merging(other.given) { $1 })
    }

    private func setting(named name: String) -> Setting? { settings.first { $0.name == name } }

    // MARK: The command line

    /// Reads `--name value`, `--name=value`, `--flag`, `--no-flag`; a list's option may repeat.
    public static func parse(arguments: [String], settings: [Setting]) throws(SettingsError) -> SettingValues {
        var values = SettingValues(settings: settings)
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("--"), argument.count > 2 else {
                throw SettingsError("unexpected argument \(argument); `spool serve --help` lists the settings")
            }
            var name = String(argument.dropFirst(2))
            var inline: String?
            if let equals = name.firstIndex(of: "=") {
                inline = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            var negated = false
            var found = values.setting(named: name)
            if found == nil, name.hasPrefix("no-"), let plain = values.setting(named: String(name.dropFirst(3))), plain.kind == .flag(inverted: true) {
                found = plain
                negated = true
            }
            guard let setting = found else {
                throw SettingsError("unknown option --\(name); `spool serve --help` lists the settings")
            }
            if case .flag(let inverted) = setting.kind {
                guard inline == nil else { throw SettingsError("\(setting.usage) takes no value") }
                guard inverted == negated else { throw SettingsError("unknown option --\(name); did you mean \(setting.usage)?") }
                values.given[setting.name] = .flag(!inverted)
                continue
            }
            guard let text = inline ?? (index < arguments.count ? arguments[index] : nil) else {
                throw SettingsError("\(setting.usage) needs a value")
            }
            if inline == nil { index += 1 }
            let value: SettingValue
            switch setting.kind {
            case .text: value = .text(text)
            case .integer:
                guard let number = Int(text) else { throw SettingsError("--\(setting.name) takes a whole number, not \(text)") }
                value = .integer(number)
            case .number:
                guard let number = Double(text), number.isFinite else { throw SettingsError("--\(setting.name) takes a number, not \(text)") }
                value = .number(number)
            case .list:
                var items: [String] = []
                if case .list(let earlier)? = values.given[setting.name] { items = earlier }
                value = .list(items + [text])
            case .flag:
                continue
            }
            values.given[setting.name] = value
        }
        return values
    }

    // MARK: The config file

    /// Reads a config file: a JSON object whose keys are the settings' names. Relative paths
    /// in it are taken from the file's folder, and a leading `~/` from the home folder, so the
    /// file means the same whichever folder the daemon starts in. Unknown keys are errors, so
    /// a misspelt setting is reported instead of silently ignored.
    public static func load(file path: String, settings: [Setting]) throws(SettingsError) -> SettingValues {
        let url = URL(fileURLWithPath: path)
        let bytes: Data
        do {
            bytes = try Data(contentsOf: url)
        } catch {
            throw SettingsError("cannot read the config file \(path): \(error.localizedDescription)")
        }
        var values = try decode(bytes, name: path, settings: settings)
        let base = url.deletingLastPathComponent().path
        for setting in settings where setting.isPath {
            if case .text(let text)? = values.given[setting.name] { values.given[setting.name] = .text(resolve(text, against: base)) }
        }
        return values
    }

    /// Reads a config file's JSON, naming the file in every error.
    public static func decode(_ bytes: Data, name: String, settings: [Setting]) throws(SettingsError) -> SettingValues {
        guard (try? JSONSerialization.jsonObject(with: bytes)) != nil else {
            throw SettingsError("the config file \(name) is not valid JSON")
        }
        guard let object = try? JSONDecoder().decode([String: JSONValue].self, from: bytes) else {
            throw SettingsError("the config file \(name) must hold a JSON object")
        }
        var values = SettingValues(settings: settings)
        let unknown = object.keys.filter { values.setting(named: $0) == nil }.sorted()
        if !unknown.isEmpty {
            throw SettingsError(
                "the config file \(name) has unknown setting(s) \(unknown.joined(separator: ", ")); known: \(settings.map(\.name).joined(separator: ", "))")
        }
        for (key, raw) in object {
            let setting = values.setting(named: key)!
            guard let value = raw.value(for: setting.kind) else {
                throw SettingsError("the config file \(name): wrong type at \"\(key)\": expected \(expectation(setting.kind))")
            }
            values.given[key] = value
        }
        return values
    }

    /// A JSON value as a config file holds it.
    enum JSONValue: Decodable {
        case bool(Bool), integer(Int), number(Double), string(String), array([JSONValue]), other

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let bool = try? container.decode(Bool.self) {
                self = .bool(bool)
            } else if let integer = try? container.decode(Int.self) {
                self = .integer(integer)
            } else if let number = try? container.decode(Double.self) {
                self = .number(number)
            } else if let string = try? container.decode(String.self) {
                self = .string(string)
            } else if let array = try? container.decode([JSONValue].self) {
                self = .array(array)
            } else {
                self = .other
            }
        }

        func value(for kind: Setting.Kind) -> SettingValue? {
            switch (kind, self) {
            case (.text, .string(let text)): .text(text)
            case (.integer, .integer(let number)): .integer(number)
            case (.number, .integer(let number)): .number(Double(number))
            case (.number, .number(let number)): .number(number)
            case (.flag, .bool(let on)): .flag(on)
            case (.list, .array(let items)):
                items.allSatisfy({ if case .string = $0 { true } else { false } })
                    ? .list(items.map { if case .string(let text) = $0 { text } else { "" } }) : nil
            default: nil
            }
        }
    }

    private static func expectation(_ kind: Setting.Kind) -> String {
        switch kind {
        case .text: "a string"
        case .integer: "a whole number"
        case .number: "a number"
        case .flag: "true or false"
        case .list: "an array of strings"
        }
    }

    static func resolve(_ path: String, against base: String) -> String {
        if path == "~" || path.hasPrefix("~/") {
            return FileManager.default.homeDirectoryForCurrentUser.path + path.dropFirst()
        }
        if path.hasPrefix("/") { return path }
        return URL(fileURLWithPath: base).appendingPathComponent(path).standardizedFileURL.path
    }
}
