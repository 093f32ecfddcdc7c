import Foundation

/// `block` labels from the module scopes exporters record.
///
/// Scopes: the dynamo exporter's `pkg.torch.onnx.name_scopes` metadata (qualified module names),
/// else its `namespace` metadata (`name: class/name: class/...`), else a TorchScript-exporter node
/// name (`/layer1/layer1.0/conv1/Conv`, whose components are re-qualified into `layer1`,
/// `layer1.0`, `layer1.0.conv1`).
///
/// A layer's block is the shallowest module of at least two layers on its path that is either
/// - one of several indexed children of the same container (`layer1.0`, `features.3`,
///   `transformer.h.5`, `encoder.layers.encoder_layer_7`), or
/// - a module whose structure (relative scopes and operators) repeats in a sibling and which is
///   not itself a container of indexed children (`inception3a` ≡ `inception3b`, DenseNet's
///   `denselayer1` ≡ `denselayer2`; but not ResNet-50's `layer1` ≡ `layer4`, whose children
///   `layer1.0`... are the blocks).
/// Layers outside any such module get no block.
enum BlockLabels {
    /// The qualified module path of a node (outermost first), or empty when it records none.
    static func modulePath(of node: ONNXNode) -> [String] {
        if let scopes = node.scopeMetadata["pkg.torch.onnx.name_scopes"] {
            let names = quotedStrings(in: scopes)
            if names.count >= 2 { return Array(names.dropFirst().dropLast()).filter { !$0.isEmpty } }
        }
        if let namespace = node.scopeMetadata["namespace"] {
            let names = namespace.split(separator: "/", omittingEmptySubsequences: false).map { part in
                String(part.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
                    .trimmingCharacters(in: .whitespaces)
            }
            if names.count >= 2 { return Array(names.dropFirst().dropLast()).filter { !$0.isEmpty } }
        }
        guard node.name.hasPrefix("/") else { return [] }
        let components = node.name.split(separator: "/").map(String.init).dropLast()
        var path: [String] = []
        var previous = ""
        for component in components {
            let qualified: String
            if !previous.isEmpty && component.hasPrefix(previous + "."), let last = path.last {
                qualified = last + component.dropFirst(previous.count)
            } else {
                qualified = path.last.map { "\($0).\(component)" } ?? component
            }
            path.append(qualified)
            previous = component
        }
        return path
    }

    /// Block label per layer given each layer's module path and operator.
    static func labels(paths: [[String]], ops: [String]) -> [String?] {
        // Indexed children per container.
        var indexedChildren: [String: Set<String>] = [:]
        var members: [String: [Int]] = [:]
        for (layer, path) in paths.enumerated() {
            for (depth, module) in path.enumerated() {
                members[module, default: []].append(layer)
                if isIndexed(module) { indexedChildren[depth == 0 ? "" : path[depth - 1], default: []].insert(module) }
            }
        }
        // Structure signatures, compared among siblings.
        var signature: [String: String] = [:]
        for (module, layers) in members where layers.count >= 2 {
            signature[module] = layers.map { layer -> String in
                let relative = paths[layer].last.map { String($0.dropFirst(min(module.count, $0.count))) } ?? ""
                return relative + "|" + ops[layer]
            }.sorted().joined(separator: ";")
        }
        var siblingsBySignature: [String: Int] = [:]
        var parentOf: [String: String] = [:]
        for path in paths {
            for (depth, module) in path.enumerated() { parentOf[module] = depth == 0 ? "" : path[depth - 1] }
        }
        for (module, text) in signature { siblingsBySignature[(parentOf[module] ?? "") + "\u{1}" + text, default: 0] += 1 }

        return paths.map { path in
            path.enumerated().first { depth, module in
                guard let text = signature[module] else { return false }  // fewer than two layers
                if isIndexed(module) && (indexedChildren[depth == 0 ? "" : path[depth - 1]]?.count ?? 0) >= 2 { return true }
                return (indexedChildren[module]?.count ?? 0) < 2
                    && (siblingsBySignature[(parentOf[module] ?? "") + "\u{1}" + text] ?? 0) >= 2
            }?.element
        }
    }

    /// Whether a module's own name is an index: `0`, `12`, or `name_3`.
    static func isIndexed(_ module: String) -> Bool {
        let last = module.split(separator: ".").last.map(String.init) ?? module
        if !last.isEmpty && last.allSatisfy(\.isNumber) { return true }
        guard let underscore = last.lastIndex(of: "_") else { return false }
        let suffix = last[last.index(after: underscore)...]
        return !suffix.isEmpty && suffix.allSatisfy(\.isNumber) && underscore != last.startIndex
    }

    /// The single-quoted strings of a Python list literal such as `['', 'm', 'm.h.0']`.
    static func quotedStrings(in text: String) -> [String] {
        var result: [String] = []
        var current = ""
        var inside = false
        for character in text {
            if character == "'" {
                if inside { result.append(current) }
                current = ""
                inside.toggle()
            } else if inside {
                current.append(character)
            }
        }
        return result
    }
}
