import AMQP
import Testing

/// `amqp.url` as people write it: one node, or a cluster's nodes comma-separated.
@Suite struct AMQPURLTests {
    @Test func oneNode() throws {
        let configuration = try AMQPConfiguration(url: "amqp://catalog:s%40cret@rabbit:5673/ordersaga")
        #expect(configuration.nodes == [.init(host: "rabbit", port: 5673)])
        #expect(configuration.user == "catalog" && configuration.password == "s@cret" && configuration.vhost == "ordersaga")
        #expect(try AMQPConfiguration(url: "amqp://u:p@rabbit/%2F").nodes == [.init(host: "rabbit", port: 5672)])
        #expect(try AMQPConfiguration(url: "amqp://u:p@rabbit/%2F").vhost == "/")
    }

    @Test func aClustersNodesInOrder() throws {
        let configuration = try AMQPConfiguration(url: "amqp://catalog:secret@node1:5672,node2:5673,node3/ordersaga")
        #expect(configuration.nodes == [.init(host: "node1", port: 5672), .init(host: "node2", port: 5673), .init(host: "node3", port: 5672)])
        #expect(configuration.user == "catalog" && configuration.password == "secret" && configuration.vhost == "ordersaga")
    }

    @Test(arguments: ["amqp://u:p@node1,/v", "amqp://u:p@node1,node2:99999/v", "amqp://u:p@node1,node2:x/v", "http://node1/v", "amqp:///v"])
    func aBadNodeListIsRefused(_ url: String) {
        #expect(throws: (any Error).self) { try AMQPConfiguration(url: url) }
    }
}
