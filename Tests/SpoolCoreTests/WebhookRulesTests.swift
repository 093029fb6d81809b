import Foundation
import SpoolCore
import SpoolStoreKit
import Testing

@Suite("Webhook rules")
struct WebhookRulesTests {
    let event = Date(timeIntervalSince1970: 1_000_000)

    @Test func retriesFollowTheScheduleWithJitterAndStopAtTheMaximumAge() {
        let policy = WebhookRetryPolicy.standard
        var now = event
        var waits: [Double] = []
        for tries in 0..<6 {
            let (state, next, error) = policy.decide(.status(503, retryAfter: nil), triesBefore: tries, createdAt: event, now: now, random: 0)
            #expect(state == .pending && error == "the receiver answered 503")
            waits.append(next!.timeIntervalSince(now))
            now = next!
        }
        #expect(waits == [5, 300, 1_800, 7_200, 18_000, 36_000])
        // Past 24 h after the event it is given up, saying why.
        let late = policy.decide(.noAnswer("connection refused"), triesBefore: 6, createdAt: event, now: now, random: 0)
        #expect(late.state == .abandoned && late.next == nil && late.error!.contains("given up after 7 tries"))
        // Jitter stays within its tenth either way.
        for random in [-1.0, -0.3, 0.7, 1.0] {
            let wait = policy.decide(.noAnswer("x"), triesBefore: 1, createdAt: event, now: event, random: random).next!.timeIntervalSince(event)
            #expect((270...330).contains(wait))
        }
    }

    @Test func successGoneRedirectsAndRetryAfterEachMeanWhatTheySay() {
        let policy = WebhookRetryPolicy(delays: [5], maxAge: 86_400, jitter: 0)
        for code in [200, 201, 204, 299] {
            #expect(policy.decide(.status(code, retryAfter: nil), triesBefore: 0, createdAt: event, now: event) == (.delivered, nil, nil))
        }
        let gone = policy.decide(.status(410, retryAfter: nil), triesBefore: 0, createdAt: event, now: event)
        #expect(gone.state == .abandoned && gone.error!.contains("410"))
        let redirect = policy.decide(.status(301, retryAfter: nil), triesBefore: 0, createdAt: event, now: event)
        #expect(redirect.state == .pending && redirect.error!.contains("not followed"))
        let slow = policy.decide(.status(429, retryAfter: 120), triesBefore: 0, createdAt: event, now: event)
        #expect(slow.next == event.addingTimeInterval(120), "Retry-After beyond the schedule is honoured")
        let soon = policy.decide(.status(503, retryAfter: 1), triesBefore: 0, createdAt: event, now: event)
        #expect(soon.next == event.addingTimeInterval(5), "and never brings a retry forward")
        let refused = policy.decide(.refused("10.0.0.1 is a private address"), triesBefore: 0, createdAt: event, now: event)
        #expect(refused.state == .abandoned && refused.error == "10.0.0.1 is a private address")
        #expect(WebhookRetryPolicy.parseDelays("5s,5m, 2h,0.2") == [5, 300, 7_200, 0.2])
        #expect(WebhookRetryPolicy.parseDelays("5x") == nil && WebhookRetryPolicy.parseDelays("") == nil && WebhookRetryPolicy.parseDelays("-1") == nil)
    }

    @Test func privateRangesAreKnownAndPublicOnesAreNot() {
        for address in ["127.0.0.1", "10.2.3.4", "172.16.0.1", "172.31.255.255", "192.168.0.1", "169.254.169.254", "100.64.0.1",
                        "0.0.0.0", "224.0.0.1", "::1", "::", "fc00::1", "fd12::1", "fe80::1", "fe80::1%eth0", "::ffff:10.0.0.1", "ff02::1"] {
            #expect(WebhookTarget.privateRange(of: address) != nil, "\(address)")
        }
        for address in ["8.8.8.8", "172.32.0.1", "192.169.0.1", "100.128.0.1", "2001:4860:4860::8888", "::ffff:8.8.8.8", "example.com", "10.0.0"] {
            #expect(WebhookTarget.privateRange(of: address) == nil, "\(address)")
        }
        #expect(WebhookTarget.literalRefusal("http://LOCALHOST:8080/x") != nil)
        #expect(WebhookTarget.literalRefusal("http://api.localhost/x") != nil)
        #expect(WebhookTarget.literalRefusal("https://hooks.example.com/x") == nil)
    }

    @Test func webhookURLsAreHTTPWithAHostAndNothingHidden() {
        for good in ["https://hooks.example.com/spool?token=abc&x=1", "http://10.0.0.1:8080/", "http://a"] {
            #expect(WebhookTarget.urlProblem(good) == nil, "\(good)")
        }
        for bad in ["ftp://example.com/x", "https://user:pw@example.com/", "https:///x", "example.com/hook", "https://example.com/#frag",
                    "https://example.com/a b", "https://example.com/%zz", String(repeating: "a", count: 3_000)] {
            #expect(WebhookTarget.urlProblem(bad) != nil, "\(bad)")
        }
    }

    @Test func aJobSubscribesItsWebhookToTheEventsItNames() {
        let spec = JobSpec(prompt: "p", frames: 1, webhook: "https://example.com/h", webhookEvents: [.started])
        #expect(spec.webhookSubscriptions == [WebhookSubscription(url: "https://example.com/h", events: [.started])])
        #expect(JobSpec(prompt: "p", frames: 1, webhook: "https://example.com/h").webhookSubscriptions[0].events == WebhookEvent.finalEvents)
        let owed = WebhookSubscription.deliveries(
            job: JobID("j"), reaching: .succeeded, at: event,
            subscriptions: [.init(url: "https://a/"), .init(url: "https://a/"), .init(url: "https://b/", events: [.started])])
        #expect(owed.map(\.url) == ["https://a/"], "one delivery a subscriber, only of the events it asked for")
        #expect(WebhookSubscription.deliveries(job: JobID("j"), reaching: .encoding, at: event, subscriptions: [.init(url: "https://a/")]).isEmpty)
    }
}
