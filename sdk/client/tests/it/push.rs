//! Push style on top of poll: a stream of records, and a listener that stops on error
//! without losing the failed batch.

use std::time::Duration;

use futures::StreamExt;
use weir_client::{ListenError, ProducerRecord};

use crate::harness::TestBroker;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_yields_records_in_order() {
    let broker = TestBroker::start(&[("stream", 1)]).await;
    let producer = broker.producer();
    for i in 0..10 {
        drop(producer.send(ProducerRecord::new("stream", format!("{i}"))));
    }
    producer.flush().await.unwrap();
    let mut consumer = broker.consumer("stream", 1).await;
    let offsets: Vec<i64> = consumer
        .stream()
        .take(10)
        .map(|r| r.unwrap().offset)
        .collect()
        .await;
    assert_eq!(offsets, (0..10).collect::<Vec<_>>());
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_hands_over_batches_and_redelivers_after_a_handler_error() {
    let broker = TestBroker::start(&[("listen", 1)]).await;
    let producer = broker.producer();
    for i in 0..5 {
        drop(producer.send(ProducerRecord::new("listen", format!("{i}"))));
    }
    producer.flush().await.unwrap();
    let mut consumer = broker.consumer("listen", 1).await;
    let result = consumer
        .listen(|records| async move {
            assert_eq!(records.iter().next().unwrap().offset, 0);
            Err::<(), _>("refused")
        })
        .await;
    assert!(matches!(result, Err(ListenError::Handler("refused"))));
    // The refused batch comes again.
    let mut seen = Vec::new();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut stop = Some(stop);
    consumer
        .listen_until(
            |records| {
                seen.extend(records.iter().map(|r| r.offset));
                if seen.len() >= 5 {
                    stop.take().map(|s| s.send(()));
                }
                async { Ok::<(), std::convert::Infallible>(()) }
            },
            async {
                let _ = stopped.await;
            },
        )
        .await
        .unwrap();
    assert_eq!(seen, [0, 1, 2, 3, 4]);
    let more = consumer.poll(Duration::from_millis(200)).await.unwrap();
    assert!(more.is_empty(), "nothing delivered twice");
    broker.stop().await;
}
