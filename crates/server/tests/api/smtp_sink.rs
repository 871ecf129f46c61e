//! A minimal SMTP server for tests: accepts every message and hands it to the test.

use std::time::Duration;

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    sync::mpsc,
};

/// One received message: envelope and data (headers and body).
#[derive(Debug)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

pub struct SmtpSink {
    pub address: String,
    messages: tokio::sync::Mutex<mpsc::UnboundedReceiver<Received>>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, sender.clone()));
            }
        });
        Self {
            address,
            messages: tokio::sync::Mutex::new(receiver),
        }
    }

    pub async fn next_message(&self, within: Duration) -> Received {
        tokio::time::timeout(within, self.messages.lock().await.recv())
            .await
            .expect("no mail reached the SMTP sink in time")
            .unwrap()
    }
}

async fn session(stream: TcpStream, messages: mpsc::UnboundedSender<Received>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut reply = async |text: &str| {
        let _ = write.write_all(format!("{text}\r\n").as_bytes()).await;
    };
    reply("220 sink.test ESMTP").await;
    let (mut from, mut to) = (String::new(), Vec::new());
    while let Ok(Some(line)) = lines.next_line().await {
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            reply("250 sink.test").await;
        } else if let Some(address) = upper.strip_prefix("MAIL FROM:").map(|_| &line[10..]) {
            from = address.trim().to_owned();
            reply("250 OK").await;
        } else if upper.starts_with("RCPT TO:") {
            to.push(line[8..].trim().to_owned());
            reply("250 OK").await;
        } else if upper == "DATA" {
            reply("354 go ahead").await;
            let mut data = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                if line == "." {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
                data.push_str("\r\n");
            }
            let _ = messages.send(Received {
                from: std::mem::take(&mut from),
                to: std::mem::take(&mut to),
                data,
            });
            reply("250 queued").await;
        } else if upper == "QUIT" {
            reply("221 bye").await;
            break;
        } else {
            reply("250 OK").await;
        }
    }
}
