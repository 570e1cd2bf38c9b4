import SyncLayer
import SyncTesting
import Testing
import SyncCore

@Suite struct QueryTests {
    /// Runs `body` against a collection of people with varied field types.
    func withPeople(_ body: (CollectionReference) async throws -> Void) async throws {
        try await withNode { node async throws in
            let people = node.collection("people")
            try await people.saveAll([
                Document(id: "ada", data: ["name": "Ada", "age": 36, "tags": ["math", "code"], "address": ["city": "London"], "score": 9.5, "active": true]),
                Document(id: "bob", data: ["name": "Bob", "age": 25, "tags": ["art"], "address": ["city": "Paris"], "score": 7, "active": false, "nick": nil]),
                Document(id: "cy", data: ["name": "Cyrus", "age": 41, "tags": [], "address": ["city": "Lagos"], "active": true]),
                Document(id: "dee", data: ["name": "Dee", "age": "unknown", "tags": ["code"], "active": true]),
            ])
            try await body(people)
        }
    }

    func ids(_ query: Query) async throws -> [String] {
        try await query.get().map(\.id)
    }

    @Test func comparisonOperators() async throws {
        try await withPeople { people async throws in
            #expect(try await ids(people.where("age", isEqualTo: 36)) == ["ada"])
            #expect(try await ids(people.where("age", isNotEqualTo: 36)) == ["bob", "cy", "dee"])
            #expect(try await ids(people.where("age", isLessThan: 36)) == ["bob"], "a string age is not a number")
            #expect(try await ids(people.where("age", isLessThanOrEqualTo: 36)) == ["ada", "bob"])
            #expect(try await ids(people.where("age", isGreaterThan: 36)) == ["cy"])
            #expect(try await ids(people.where("age", isGreaterThanOrEqualTo: 36)) == ["ada", "cy"])
            #expect(try await ids(people.where("score", isGreaterThan: 8)) == ["ada"], "doubles and integers compare as numbers")
            #expect(try await ids(people.where("name", isGreaterThan: "B")) == ["bob", "cy", "dee"])
        }
    }

    @Test func typesAreNotConfused() async throws {
        try await withPeople { people async throws in
            #expect(try await ids(people.where("active", isEqualTo: true)) == ["ada", "cy", "dee"])
            #expect(try await ids(people.where("active", isEqualTo: 1)) == [], "true is not the number 1")
            #expect(try await ids(people.where("age", isEqualTo: "unknown")) == ["dee"])
            #expect(try await ids(people.where("tags", isEqualTo: ["art"])) == ["bob"])
            #expect(try await ids(people.where("address", isEqualTo: ["city": "Paris"])) == ["bob"])
        }
    }

    @Test func stringOperators() async throws {
        try await withPeople { people async throws in
            #expect(try await ids(people.where("name", startsWith: "Cy")) == ["cy"])
            #expect(try await ids(people.where("name", endsWith: "e")) == ["dee"])
            #expect(try await ids(people.where("name", contains: "o")) == ["bob"])
            #expect(try await ids(people.where("name", startsWith: "")) == ["ada", "bob", "cy", "dee"])
            #expect(try await ids(people.where("name", contains: "%")) == [], "no LIKE wildcards")
        }
    }

    @Test func arrayAndSetOperators() async throws {
        try await withPeople { people async throws in
            #expect(try await ids(people.where("tags", arrayContains: "code")) == ["ada", "dee"])
            #expect(try await ids(people.where("tags", arrayContainsAny: ["art", "math"])) == ["ada", "bob"])
            #expect(try await ids(people.where("name", whereIn: ["Bob", "Dee", "Zed"])) == ["bob", "dee"])
            #expect(try await ids(people.where("name", whereNotIn: ["Bob", "Dee"])) == ["ada", "cy"])
            #expect(try await ids(people.where("nick", whereNotIn: ["x"])) == ["ada", "bob", "cy", "dee"], "missing fields are not in any list")
        }
    }

    @Test func nullAndDotPaths() async throws {
        try await withPeople { people async throws in
            #expect(try await ids(people.where("nick", isNull: true)) == ["ada", "bob", "cy", "dee"])
            #expect(try await ids(people.where("score", isNull: false)) == ["ada", "bob"])
            #expect(try await ids(people.where("address.city", isEqualTo: "Lagos")) == ["cy"])
            #expect(try await ids(people.where("address", isNull: true)) == ["dee"])
            #expect(try await ids(people.where("id", whereIn: ["cy", "ada"])) == ["ada", "cy"], "\"id\" is the record id")
        }
    }

    @Test func orderingLimitOffsetFirstCount() async throws {
        try await withPeople { people async throws in
            #expect(try await ids(people.orderBy("active", descending: true).orderBy("name", descending: true)) == ["dee", "cy", "ada", "bob"])
            #expect(try await ids(people.where("active", isEqualTo: true).orderBy("address.city")) == ["dee", "cy", "ada"])
            #expect(try await ids(people.orderBy("name").limit(2).offset(1)) == ["bob", "cy"])
            #expect(try await people.orderBy("name", descending: true).first()?.id == "dee")
            #expect(try await people.where("active", isEqualTo: true).count() == 3)
            #expect(try await people.where("active", isEqualTo: true).limit(2).count() == 2)
        }
    }

    @Test func badQueriesFailWithAClearError() async throws {
        try await withPeople { people async throws in
            await #expect { try await people.where("age", isLessThan: ["x"]).get() } throws: { ($0 as? SyncError)?.code == .invalidQuery }
            await #expect { try await people.where("a..b", isEqualTo: 1).get() } throws: { ($0 as? SyncError)?.code == .invalidQuery }
            await #expect { try await people.limit(-1).get() } throws: { ($0 as? SyncError)?.code == .invalidQuery }
        }
    }
}
