//! Publisher and subscribers on different threads: no lost wake-up, no missed or duplicated frame.

mod common;

use std::time::Duration;

use common::*;
use media::{HubConfig, Registry, StartPolicy, SubscribeOptions, SubscriberEnd};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_frame_reaches_every_subscriber_then_the_end() {
    const FRAMES: u64 = 20_000;
    let hub = Registry::new(HubConfig {
        ring_capacity: FRAMES as usize + 10,
        subscriber_max_lag: Duration::from_secs(1_000_000),
        subscriber_max_lag_bytes: u64::MAX,
        republish_grace: Duration::ZERO,
        ..HubConfig::default()
    });
    let mut publisher = publish(&hub);
    publisher.push(video(0, true, 20));
    let readers: Vec<_> = (0..4)
        .map(|i| {
            let mut sub = hub
                .subscribe(
                    &key(),
                    SubscribeOptions {
                        start: StartPolicy::Gop,
                        protocol: "rtmp",
                    },
                )
                .unwrap();
            tokio::spawn(async move {
                let mut expected = 0;
                loop {
                    // Alternate between waiting and draining, as the servers will.
                    let frame = match sub.recv().await {
                        Ok(frame) => frame,
                        Err(SubscriberEnd::Ended) => break,
                    };
                    assert_eq!(frame.seq(), expected, "reader {i}");
                    expected += 1;
                    while let Ok(Some(frame)) = sub.try_recv() {
                        assert_eq!(frame.seq(), expected, "reader {i}");
                        expected += 1;
                    }
                }
                (expected, sub.dropped_frames())
            })
        })
        .collect();
    let pusher = std::thread::spawn(move || {
        for i in 1..FRAMES {
            publisher.push(video(i as u32, i % 100 == 0, 20));
            if i % 1000 == 0 {
                std::thread::yield_now();
            }
        }
        drop(publisher);
    });
    pusher.join().unwrap();
    for reader in readers {
        assert_eq!(reader.await.unwrap(), (FRAMES, 0));
    }
    assert!(hub.list().is_empty());
}
