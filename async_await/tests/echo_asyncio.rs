//! The tutorial's asyncio echo server (`examples/echo_asyncio.rs`): several
//! clients at once, each gets its own bytes back, line by line.

#[path = "../examples/echo_asyncio.rs"]
#[allow(dead_code)]
mod echo_asyncio;

use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[tokio::test]
async fn every_client_gets_its_own_lines_back() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(echo_asyncio::start_server(
        listener,
        echo_asyncio::echo,
        async {
            let _ = stopped.await;
        },
    ));

    // Every client connected before any writes: all are open at once.
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(TcpStream::connect(addr).await.unwrap());
    }
    let mut talks = tokio::task::JoinSet::new();
    for (i, client) in clients.into_iter().enumerate() {
        talks.spawn(async move {
            let (reader, mut writer) = client.into_split();
            let mut reader = BufReader::new(reader);
            for round in 0..3 {
                let line = format!("client {i} says {round}: {}\n", "x".repeat(i * 100));
                writer.write_all(line.as_bytes()).await.unwrap();
                let mut back = String::new();
                reader.read_line(&mut back).await.unwrap();
                assert_eq!(back, line, "client {i}");
                tokio::task::yield_now().await;
            }
            // Half a line, then the end: it still comes back.
            writer.write_all(b"no newline").await.unwrap();
            writer.shutdown().await.unwrap();
            let mut back = String::new();
            reader.read_line(&mut back).await.unwrap();
            assert_eq!(back, "no newline");
        });
    }
    let all = async {
        while let Some(talk) = talks.join_next().await {
            talk.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(20), all)
        .await
        .expect("the clients hung");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
